"""PyTorch side of `npm run bench`: the same models, shapes, optimizer and
step counts as bench/bench.ts, timed the same way. Prints one JSON object.

Usage: /usr/bin/python3 bench/torch_bench.py --steps S --repeats R --warmup W --threads N
"""
import argparse
import json
import os
import random
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def build_data(path, block_size=3, seed=42):
    words = [w for w in open(path, encoding="utf-8").read().splitlines() if w.strip()]
    chars = sorted(set("".join(words)))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    random.Random(seed).shuffle(words)
    train = words[: int(0.8 * len(words))]
    xs, ys = [], []
    for w in train:
        ctx = [0] * block_size
        for ch in w + ".":
            ix = stoi.get(ch, 0)
            xs.append(ctx)
            ys.append(ix)
            ctx = ctx[1:] + [ix]
    return torch.tensor(xs), torch.tensor(ys), len(chars) + 1


class LectureMlp:
    """The lecture-2 MLP as raw tensors: C, W1, b1, W2, b2."""

    def __init__(self, vocab, g, n_embd=10, n_hidden=200, block=3):
        self.C = torch.randn((vocab, n_embd), generator=g)
        self.W1 = torch.randn((block * n_embd, n_hidden), generator=g)
        self.b1 = torch.randn(n_hidden, generator=g)
        self.W2 = torch.randn((n_hidden, vocab), generator=g)
        self.b2 = torch.randn(vocab, generator=g)
        self.params = [self.C, self.W1, self.b1, self.W2, self.b2]
        for p in self.params:
            p.requires_grad = True

    def logits(self, X, training=True):
        emb = self.C[X]
        h = torch.tanh(emb.view(emb.shape[0], -1) @ self.W1 + self.b1)
        return h @ self.W2 + self.b2

    def train(self, mode=True):
        pass


class DeepBn(nn.Module):
    """Lecture-3 deep network: 5 x (Linear + BatchNorm1d + Tanh) of 100, then Linear + BatchNorm1d."""

    def __init__(self, vocab, n_embd=10, n_hidden=100, block=3, n_layers=5):
        super().__init__()
        layers = [nn.Embedding(vocab, n_embd), nn.Flatten()]
        fan_in = block * n_embd
        for _ in range(n_layers):
            layers += [nn.Linear(fan_in, n_hidden, bias=False), nn.BatchNorm1d(n_hidden), nn.Tanh()]
            fan_in = n_hidden
        layers += [nn.Linear(n_hidden, vocab, bias=False), nn.BatchNorm1d(vocab)]
        self.net = nn.Sequential(*layers)
        self.params = list(self.parameters())

    def logits(self, X, training=True):
        return self.net(X)


class Hierarchy:
    """Lecture 5's WaveNet-like network, written with hand-made layers as the
    lecture writes them (plain tensors, no torch.nn): an embedding table, then
    three levels of [merge 2 neighbours, Linear without bias, batch norm over
    dims (0, 1) of a 3-D input, tanh], then a Linear to the logits."""

    def __init__(self, vocab, g, n_embd=24, n_hidden=128, levels=3, eps=1e-5, momentum=0.1):
        self.table = torch.randn((vocab, n_embd), generator=g)
        self.levels = []
        width = n_embd
        for _ in range(levels):
            weight = torch.randn((2 * width, n_hidden), generator=g) / (2 * width) ** 0.5
            self.levels.append({
                "weight": weight,
                "gamma": torch.ones(n_hidden),
                "beta": torch.zeros(n_hidden),
                "mean": torch.zeros(n_hidden),
                "var": torch.ones(n_hidden),
            })
            width = n_hidden
        self.out_w = torch.randn((width, vocab), generator=g) / width ** 0.5 * 0.1
        self.out_b = torch.zeros(vocab)
        self.eps, self.momentum, self.training = eps, momentum, True
        self.params = [self.table]
        for lv in self.levels:
            self.params += [lv["weight"], lv["gamma"], lv["beta"]]
        self.params += [self.out_w, self.out_b]
        for p in self.params:
            p.requires_grad = True

    def batch_norm(self, x, lv):
        dims = (0, 1) if x.ndim == 3 else 0
        if self.training:
            mean = x.mean(dims, keepdim=True)
            var = x.var(dims, keepdim=True)  # unbiased, as the lecture's layer
            with torch.no_grad():
                lv["mean"] = (1 - self.momentum) * lv["mean"] + self.momentum * mean.view(-1)
                lv["var"] = (1 - self.momentum) * lv["var"] + self.momentum * var.view(-1)
        else:
            mean, var = lv["mean"], lv["var"]
        return lv["gamma"] * (x - mean) / torch.sqrt(var + self.eps) + lv["beta"]

    def logits(self, X, training=True):
        h = self.table[X]  # [B, T, C]
        for lv in self.levels:
            B, T, C = h.shape
            h = h.view(B, T // 2, 2 * C)  # merge neighbouring positions
            if h.shape[1] == 1:
                h = h.squeeze(1)
            h = torch.tanh(self.batch_norm(h @ lv["weight"], lv))
        return h @ self.out_w + self.out_b

    def train(self, mode=True):
        self.training = mode


def time_training(model, X, Y, steps, repeats, warmup, batch=32, lr=0.1, seed=2147483647):
    g = torch.Generator().manual_seed(seed)
    model.train(True)

    def step():
        ix = torch.randint(0, X.shape[0], (batch,), generator=g)
        loss = F.cross_entropy(model.logits(X[ix]), Y[ix])
        for p in model.params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in model.params:
                p.data += -lr * p.grad
        return loss

    for _ in range(warmup):
        step()
    per_step = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        loss.item()
        per_step.append((time.perf_counter() - t0) / steps)
    return statistics.median(per_step), float(loss.item())


def time_eval(model, X, Y, repeats=3):
    model.train(False)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            loss = F.cross_entropy(model.logits(X, training=False), Y).item()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "names.txt"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X3, Y3, vocab = build_data(args.data)
    X8, Y8, _ = build_data(args.data, block_size=8)
    rows = []
    for name, make, X, Y in (
        ("mlp", lambda g: LectureMlp(vocab, g), X3, Y3),
        ("deep-bn", lambda g: DeepBn(vocab), X3, Y3),
        ("hierarchical", lambda g: Hierarchy(vocab, g), X8, Y8),
    ):
        torch.manual_seed(1)
        model = make(torch.Generator().manual_seed(2147483647))
        step_s, last_loss = time_training(model, X, Y, args.steps, args.repeats, args.warmup)
        eval_s, eval_loss = time_eval(model, X, Y)
        rows.append({
            "model": name,
            "backend": "pytorch",
            "us_per_step": step_s * 1e6,
            "steps_per_s": 1.0 / step_s,
            "eval_train_s": eval_s,
            "eval_train_loss": eval_loss,
            "last_loss": last_loss,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        })
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    sys.exit(main())
