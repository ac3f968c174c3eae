"""PyTorch side of the sequence rows of `npm run bench` (bench/sequence-rows.ts).

Reads a case folder written by the bench (case.json, the training and test
lines and every step's batch rows, int32 little-endian), trains makemore.py's
model class of that kind (the classes of scripts/fixtures/makemore_models.py)
with makemore.py's AdamW on exactly those batches, evaluates the test lines
without gradients, and prints one JSON object.

Usage: /usr/bin/python3 bench/torch_sequence.py CASE_DIR THREADS
"""
import json
import os
import pathlib
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "fixtures"))
from makemore_models import MODELS, Config  # noqa: E402

# makemore.py's defaults for every kind; the bench does not change them
N_LAYER, N_HEAD, N_EMBD, N_EMBD2 = 4, 4, 64, 64


def ints(folder, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(folder, name), dtype="<i4").astype(np.int64).reshape(shape))


def main():
    folder = sys.argv[1]
    torch.set_num_threads(int(sys.argv[2]))
    meta = json.load(open(os.path.join(folder, "case.json")))
    T, V, B = meta["block_size"], meta["vocab_size"], meta["batch"]
    X = ints(folder, "train_x.i32", (meta["train_lines"], T))
    Y = ints(folder, "train_y.i32", (meta["train_lines"], T))
    tX = ints(folder, "test_x.i32", (meta["test_lines"], T))
    tY = ints(folder, "test_y.i32", (meta["test_lines"], T))
    rows = ints(folder, "rows.i32", (-1, B))
    chunk = meta["eval_lines"]  # lines per no-grad forward pass of the test split, as many as ours
    torch.manual_seed(3407)
    config = Config(block_size=T, vocab_size=V, n_layer=N_LAYER, n_embd=N_EMBD, n_embd2=N_EMBD2, n_head=N_HEAD)
    model = MODELS[meta["kind"]](config)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    step_no = 0

    def run(n):
        nonlocal step_no
        loss = None
        for _ in range(n):
            ix = rows[step_no]
            logits = model(X[ix])
            loss = F.cross_entropy(logits.view(-1, V), Y[ix].view(-1), ignore_index=-1)
            model.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_no += 1
        return float(loss.item()) if loss is not None else float("nan")

    run(meta["warmup"])
    per_step = []
    last = float("nan")
    for _ in range(meta["repeats"]):
        t0 = time.perf_counter()
        last = run(meta["steps"])
        per_step.append((time.perf_counter() - t0) / meta["steps"])
    def evaluate():
        total, count = 0.0, 0
        with torch.no_grad():
            for s in range(0, tX.shape[0], chunk):
                logits = model(tX[s : s + chunk])
                y = tY[s : s + chunk].reshape(-1)
                total += F.cross_entropy(logits.view(-1, V), y, ignore_index=-1, reduction="sum").item()
                count += int((y >= 0).sum())
        return total / count

    evaluate()  # timed the second time, as the bench times ours
    t0 = time.perf_counter()
    eval_loss = evaluate()
    eval_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "us_per_step": statistics.median(per_step) * 1e6,
                "eval_test_s": eval_s,
                "eval_test_loss": eval_loss,
                "last_loss": last,
                "params": sum(p.numel() for p in model.parameters()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
