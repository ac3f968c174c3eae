/**
 * The Transformer's kernels of wasm/attention.ts (LayerNorm, NewGELU, causal
 * self-attention, forward and backward), called through KernelMemory and
 * checked against plain float64 references; and the AdamW kernel of
 * wasm/adamw.ts, bit for bit against the JavaScript AdamW.
 */
import { KernelMemory } from "../lib/engines/kernels";
import { Generator } from "../lib/random/generator";
import { AdamW } from "../lib/optim/optimizers";

function randn(g: Generator, n: number, scale = 1): Float32Array {
  const a = g.randnArray(n);
  for (let i = 0; i < n; i++) a[i] = (a[i] as number) * scale;
  return a;
}

/** Expects every a[i] within `rel` times max(max |b|, 1) of b[i] (a NaN anywhere fails). */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): void {
  expect(a.length).toBe(b.length);
  let scale = 1;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i] as number));
    const d = Math.abs((a[i] as number) - (b[i] as number));
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  expect(diff).toBeLessThanOrEqual(rel * scale);
}

/** Copies values into a new buffer of kernel memory; returns its byte offset. */
function put(mem: KernelMemory, values: Float32Array): number {
  const at = mem.alloc(values.length);
  mem.f32(at, values.length).set(values);
  return at;
}

/** a + b elementwise (the reference of an accumulated gradient). */
function plus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => (a[i] as number) + (b[i] as number));
}

describe("LayerNorm", () => {
  /** Forward and backward in float64: y, mean, rstd, dx, dgamma, dbeta. */
  function reference(M: number, N: number, x: Float32Array, gamma: Float32Array, beta: Float32Array, dy: Float32Array) {
    const y = new Float64Array(M * N);
    const dx = new Float64Array(M * N);
    const dgamma = new Float64Array(N);
    const dbeta = new Float64Array(N);
    const mean = new Float64Array(M);
    const rstd = new Float64Array(M);
    for (let i = 0; i < M; i++) {
      const row = Array.from(x.subarray(i * N, (i + 1) * N));
      const mu = row.reduce((a, b) => a + b, 0) / N;
      const r = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mu) ** 2, 0) / N + 1e-5);
      mean[i] = mu;
      rstd[i] = r;
      const xhat = row.map((v) => (v - mu) * r);
      const g = xhat.map((_, j) => (dy[i * N + j] as number) * (gamma[j] as number));
      const mg = g.reduce((a, b) => a + b, 0) / N;
      const mgx = g.reduce((a, b, j) => a + b * (xhat[j] as number), 0) / N;
      for (let j = 0; j < N; j++) {
        const xh = xhat[j] as number;
        y[i * N + j] = xh * (gamma[j] as number) + (beta[j] as number);
        dx[i * N + j] = r * ((g[j] as number) - mg - xh * mgx);
        dgamma[j] += (dy[i * N + j] as number) * xh;
        dbeta[j] += dy[i * N + j] as number;
      }
    }
    return { y, mean, rstd, dx, dgamma, dbeta };
  }

  test.each([
    [5, 8],
    [7, 13],
    [33, 64],
    [3, 2],
  ])("rows %i of %i: forward, and backward written then added", (M, N) => {
    const g = new Generator(M * 100 + N);
    const mem = new KernelMemory();
    const x = randn(g, M * N, 2);
    for (let i = 0; i < M * N; i++) x[i] = (x[i] as number) + 3; // an offset, as residual streams have
    const gamma = randn(g, N);
    const beta = randn(g, N);
    const dy = randn(g, M * N);
    const ref = reference(M, N, x, gamma, beta, dy);
    const [xAt, gAt, bAt, dyAt] = [put(mem, x), put(mem, gamma), put(mem, beta), put(mem, dy)];
    const [meanAt, rstdAt, yAt] = [mem.alloc(M), mem.alloc(M), mem.alloc(M * N)];
    mem.k.layerNormForward(M, N, xAt, gAt, bAt, 1e-5, meanAt, rstdAt, yAt);
    expectClose(mem.f32(yAt, M * N), ref.y, 2e-6);
    expectClose(mem.f32(meanAt, M), ref.mean, 1e-6);
    expectClose(mem.f32(rstdAt, M), ref.rstd, 1e-5);
    const before = [randn(g, M * N), randn(g, N), randn(g, N)] as const;
    const [dxAt, dgAt, dbAt] = before.map((v) => put(mem, v)) as [number, number, number];
    const run = (acc: number): void =>
      mem.k.layerNormBackward(M, N, xAt, dyAt, gAt, meanAt, rstdAt, dxAt, acc, dgAt, acc, dbAt, acc);
    run(1);
    expectClose(mem.f32(dxAt, M * N), plus(before[0], ref.dx), 1e-5);
    expectClose(mem.f32(dgAt, N), plus(before[1], ref.dgamma), 1e-5);
    expectClose(mem.f32(dbAt, N), plus(before[2], ref.dbeta), 1e-5);
    run(0);
    expectClose(mem.f32(dxAt, M * N), ref.dx, 1e-5);
    expectClose(mem.f32(dgAt, N), ref.dgamma, 1e-5);
    expectClose(mem.f32(dbAt, N), ref.dbeta, 1e-5);
  });
});

describe("NewGELU", () => {
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const dgelu = (x: number): number => (gelu(x + 1e-6) - gelu(x - 1e-6)) / 2e-6; // central difference in float64

  test("forward and backward over small, large and negative values, written then added", () => {
    const g = new Generator(3);
    const n = 101;
    const x = randn(g, n, 3);
    x.set([0, -0.1, 0.2, 8, -8, 20, -20], 0);
    const dy = randn(g, n);
    const mem = new KernelMemory();
    const [xAt, dyAt, yAt, gate] = [put(mem, x), put(mem, dy), mem.alloc(n), mem.alloc(n)];
    mem.k.geluForward(n, xAt, yAt, gate);
    expectClose(
      mem.f32(yAt, n),
      Array.from(x, (v) => gelu(v)),
      1e-6,
    );
    const before = randn(g, n);
    const dxAt = put(mem, before);
    const grad = Array.from(x, (v, i) => (dy[i] as number) * dgelu(v));
    mem.k.geluBackward(n, xAt, gate, dyAt, dxAt, 1);
    expectClose(mem.f32(dxAt, n), plus(before, grad), 1e-5);
    mem.k.geluBackward(n, xAt, gate, dyAt, dxAt, 0);
    expectClose(mem.f32(dxAt, n), grad, 1e-5);
  });
});

describe("causal self-attention", () => {
  interface Shape {
    B: number;
    T: number;
    C: number;
    nh: number;
  }

  /** y, P and d(qkv) in float64 for qkv [B·T, 3C] and dy [B·T, C]. */
  function reference({ B, T, C, nh }: Shape, qkv: Float32Array, dy: Float32Array) {
    const hs = C / nh;
    const scale = 1 / Math.sqrt(hs);
    const y = new Float64Array(B * T * C);
    const dqkv = new Float64Array(B * T * 3 * C);
    const P: number[][][] = [];
    const at = (b: number, t: number, part: number, h: number, d: number): number =>
      (b * T + t) * 3 * C + part * C + h * hs + d;
    const dot = (n: number, a: (d: number) => number, c: (d: number) => number): number => {
      let s = 0;
      for (let d = 0; d < n; d++) s += a(d) * c(d);
      return s;
    };
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nh; h++) {
        const q = (t: number, d: number): number => qkv[at(b, t, 0, h, d)] as number;
        const k = (t: number, d: number): number => qkv[at(b, t, 1, h, d)] as number;
        const v = (t: number, d: number): number => qkv[at(b, t, 2, h, d)] as number;
        const g = (t: number, d: number): number => dy[(b * T + t) * C + h * hs + d] as number;
        const probs = Array.from({ length: T }, (_, t) => {
          const s = Array.from(
            { length: t + 1 },
            (_, j) =>
              scale *
              dot(
                hs,
                (d) => q(t, d),
                (d) => k(j, d),
              ),
          );
          const m = Math.max(...s);
          const e = s.map((z) => Math.exp(z - m));
          const sum = e.reduce((a, c) => a + c, 0);
          return e.map((z) => z / sum);
        });
        P.push(probs);
        for (let t = 0; t < T; t++) {
          const p = probs[t] as number[];
          const dP = p.map((_, s) =>
            dot(
              hs,
              (d) => g(t, d),
              (d) => v(s, d),
            ),
          );
          const inner = dot(
            t + 1,
            (s) => p[s] as number,
            (s) => dP[s] as number,
          );
          const dS = p.map((ps, s) => ps * ((dP[s] as number) - inner) * scale);
          for (let d = 0; d < hs; d++) {
            y[(b * T + t) * C + h * hs + d] = dot(
              t + 1,
              (s) => p[s] as number,
              (s) => v(s, d),
            );
            for (let s = 0; s <= t; s++) {
              dqkv[at(b, t, 0, h, d)] += (dS[s] as number) * k(s, d);
              dqkv[at(b, s, 1, h, d)] += (dS[s] as number) * q(t, d);
              dqkv[at(b, s, 2, h, d)] += (p[s] as number) * g(t, d);
            }
          }
        }
      }
    }
    return { y, P, dqkv };
  }

  test.each([
    { B: 2, T: 6, C: 8, nh: 2 },
    { B: 1, T: 1, C: 8, nh: 2 },
    { B: 2, T: 19, C: 12, nh: 2 },
    { B: 2, T: 16, C: 64, nh: 4 },
    { B: 1, T: 37, C: 40, nh: 2 },
    { B: 1, T: 21, C: 6, nh: 3 },
    { B: 1, T: 70, C: 16, nh: 1 },
  ])("B $B, T $T, C $C, $nh heads: y, kept probabilities and d(qkv) written then added", (shape) => {
    const { B, T, C, nh } = shape;
    const Tp = Math.ceil(T / 16) * 16; // rows of P: T rounded up to the kernels' blocks of 16 positions
    const g = new Generator(B * 1000 + T * 10 + C);
    const mem = new KernelMemory();
    const qkv = randn(g, B * T * 3 * C);
    const dy = randn(g, B * T * C);
    const ref = reference(shape, qkv, dy);
    const [qkvAt, dyAt, yAt] = [put(mem, qkv), put(mem, dy), mem.alloc(B * T * C)];
    const PAt = mem.alloc(B * nh * T * Tp);
    const work = mem.alloc(mem.k.attentionWork(T, C / nh));
    mem.k.attentionForward(B, T, C, nh, qkvAt, yAt, PAt, 1, work);
    expectClose(mem.f32(yAt, B * T * C), ref.y, 2e-6);
    // each row of P: the probabilities up to t, zeros up to the next multiple of 16
    const P = mem.f32(PAt, B * nh * T * Tp);
    ref.P.forEach((block, bh) =>
      block.forEach((row, t) => {
        const n = Math.ceil((t + 1) / 16) * 16;
        const got = P.subarray((bh * T + t) * Tp, (bh * T + t) * Tp + n);
        expectClose(got, [...row, ...Array<number>(n - row.length).fill(0)], 1e-6);
      }),
    );
    // evaluation: one block of scratch for every head gives the same y
    const yEval = mem.alloc(B * T * C);
    mem.k.attentionForward(B, T, C, nh, qkvAt, yEval, mem.alloc(T * Tp), 0, mem.alloc(mem.k.attentionWork(T, C / nh)));
    expect(Array.from(mem.f32(yEval, B * T * C))).toEqual(Array.from(mem.f32(yAt, B * T * C)));
    const before = randn(g, B * T * 3 * C);
    const dAt = put(mem, before);
    mem.k.attentionBackward(B, T, C, nh, qkvAt, PAt, dyAt, dAt, 1, work);
    expectClose(mem.f32(dAt, B * T * 3 * C), plus(before, ref.dqkv), 1e-5);
    mem.k.attentionBackward(B, T, C, nh, qkvAt, PAt, dyAt, dAt, 0, work);
    expectClose(mem.f32(dAt, B * T * 3 * C), ref.dqkv, 1e-5);
  });
});

describe("AdamW kernel", () => {
  test("five steps give the JavaScript AdamW's parameters and moments bit for bit", () => {
    const g = new Generator(8);
    const n = 4096;
    const start = randn(g, n);
    start.set([0, -0, 1e-30, 3e4, -2e-7], 0);
    const mem = new KernelMemory();
    const [pAt, gAt, mAt, vAt] = [put(mem, start), mem.alloc(n), mem.alloc(n), mem.alloc(n)];
    const p = mem.f32(pAt, n);
    const grad = mem.f32(gAt, n);
    const [js, kernel] = [new AdamW({ betas: [0.9, 0.99] }), new AdamW({ betas: [0.9, 0.99] })];
    kernel.keepMomentsIn([mem.f32(mAt, n)], [mem.f32(vAt, n)]);
    const mine = start.slice();
    for (const lr of [1e-2, 5e-4, 5e-4, 3e-3, 1e-4]) {
      const gs = randn(g, n, lr * 100);
      gs.set([0, 1e-30, -1e-20, 1e3], n - 4);
      grad.set(gs);
      js.update([mine], [gs], lr);
      const c = kernel.beginStep([p], [grad], lr);
      mem.k.adamwUpdate(
        n,
        pAt,
        gAt,
        mAt,
        vAt,
        c.decay,
        c.beta1,
        c.keep1,
        c.beta2,
        c.keep2,
        c.stepSize,
        c.bc2Sqrt,
        c.eps,
      );
      expect(Buffer.from(p.buffer, p.byteOffset, 4 * n).equals(Buffer.from(mine.buffer))).toBe(true);
    }
    // the moments too: one more step from either state gives the same parameters
    const gs = randn(g, n);
    grad.set(gs);
    js.update([mine], [gs], 1e-3);
    kernel.update([p], [grad], 1e-3); // the JavaScript update over the kernel's moments
    expect(Buffer.from(p.buffer, p.byteOffset, 4 * n).equals(Buffer.from(mine.buffer))).toBe(true);
  });
});
