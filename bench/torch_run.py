"""PyTorch twin of makemore.py's default run, for the wall-time row of `npm run bench`.

makemore.py trains its Transformer on names.txt with its defaults (4 layers,
4 heads, 64 channels, AdamW lr 5e-4, weight decay 0.01, betas (0.9, 0.99),
batch 32, seed 3407) and, along the way, prints the loss every 10 steps,
estimates the train and test losses every 500 steps from batches of 100 lines
(saving the model when the test loss is the best so far) and prints 10
samples every 200 steps. This script does the same for a given number of
steps, with the model classes of scripts/fixtures/makemore_models.py, and
exits; the bench times it from process start to exit.

Usage: /usr/bin/python3 bench/torch_run.py NAMES_TXT OUT_DIR STEPS THREADS
"""
import os
import pathlib
import sys

import torch
from torch.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "fixtures"))
from makemore_models import MODELS, Config  # noqa: E402

BATCH, EVAL_EVERY, SAMPLE_EVERY, EVAL_BATCH, EVAL_BATCHES, SAMPLES = 32, 500, 200, 100, 11, 10


def lines_to_tensors(words, stoi, T):
    """X: 0 (the start token) then the line; Y: the line, 0 (the end), then -1 (not counted)."""
    X = torch.zeros((len(words), T), dtype=torch.long)
    Y = torch.full((len(words), T), -1, dtype=torch.long)
    for i, w in enumerate(words):
        ix = torch.tensor([stoi[c] for c in w], dtype=torch.long)
        X[i, 1 : 1 + len(w)] = ix
        Y[i, : len(w)] = ix
        Y[i, len(w)] = 0
    return X, Y


def datasets(path):
    """makemore.py's split: a random permutation, min(1000, 10%) lines held out for the test set."""
    words = [w.strip() for w in open(path, encoding="utf-8").read().splitlines()]
    words = [w for w in words if w]
    chars = sorted(set("".join(words)))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    T = max(len(w) for w in words) + 1
    n_test = min(1000, int(len(words) * 0.1))
    order = torch.randperm(len(words)).tolist()
    train = [words[i] for i in order[:-n_test]]
    test = [words[i] for i in order[-n_test:]]
    return lines_to_tensors(train, stoi, T), lines_to_tensors(test, stoi, T), chars, T


def loss_of(model, X, Y):
    logits = model(X)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1), ignore_index=-1)


@torch.no_grad()
def estimate(model, X, Y):
    """The mean loss of EVAL_BATCHES shuffled batches of EVAL_BATCH lines."""
    model.eval()
    order = torch.randperm(X.shape[0])
    losses = []
    for b in range(EVAL_BATCHES):
        ix = order[b * EVAL_BATCH : (b + 1) * EVAL_BATCH]
        if len(ix) == 0:
            break
        losses.append(loss_of(model, X[ix], Y[ix]).item())
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def sample(model, chars, T):
    """SAMPLES lines drawn character by character from the start token, cut at the first end token."""
    idx = torch.zeros((SAMPLES, 1), dtype=torch.long)
    for _ in range(T - 1):
        probs = F.softmax(model(idx)[:, -1, :], dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
    out = []
    for row in idx[:, 1:].tolist():
        row = row[: row.index(0)] if 0 in row else row
        out.append("".join(chars[i - 1] for i in row))
    return out


def main():
    path, out_dir, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(3407)
    os.makedirs(out_dir, exist_ok=True)
    (X, Y), (tX, tY), chars, T = datasets(path)
    config = Config(block_size=T, vocab_size=len(chars) + 1, n_layer=4, n_embd=64, n_embd2=64, n_head=4)
    model = MODELS["transformer"](config)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    best = None
    for step in range(steps):
        ix = torch.randint(0, X.shape[0], (BATCH,))
        loss = loss_of(model, X[ix], Y[ix])
        model.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} | loss {loss.item():.4f}")
        if step > 0 and step % EVAL_EVERY == 0:
            train_loss, test_loss = estimate(model, X, Y), estimate(model, tX, tY)
            print(f"step {step} train loss: {train_loss} test loss: {test_loss}")
            if best is None or test_loss < best:
                torch.save(model.state_dict(), os.path.join(out_dir, "model.pt"))
                best = test_loss
        if step > 0 and step % SAMPLE_EVERY == 0:
            print("\n".join(sample(model, chars, T)))


if __name__ == "__main__":
    sys.exit(main())
