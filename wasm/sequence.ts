// Kernels of the sequence graphs (lib/engines/graph.ts): the masked
// cross-entropy over every position of padded lines, and the additions of
// residual streams and position embeddings with their gradients.
//
// A gradient kernel takes `acc`: 0 writes the gradient, 1 adds it to what is
// there (a value read by several ops gets the sum of their gradients).

import { expRow } from "./math";

/**
 * Cross-entropy of logits z [M, N] against int32 targets y [M], where a
 * target of -1 (padding after a line's end) counts for nothing. Writes
 * `scale` · (softmax(z) - onehot(y)) to dz for the counted rows and zeros for
 * the others, and each row's loss to losses [M] (0 for the others); returns
 * their sum, which {@link sumFloats} of the losses gives too (the caller
 * divides by the counted rows, which is also what `scale` is one over in
 * training).
 */
export function seqCrossEntropy(M: i32, N: i32, z: usize, y: usize, dz: usize, scale: f32, losses: usize): f64 {
  let total: f64 = 0;
  const rowBytes = (<usize>N) << 2;
  for (let i = 0; i < M; i++) {
    const row = z + <usize>i * rowBytes;
    const drow = dz + <usize>i * rowBytes;
    const target = load<i32>(y + ((<usize>i) << 2));
    if (target < 0) {
      memory.fill(drow, 0, rowBytes);
      store<f32>(losses + ((<usize>i) << 2), 0);
      continue;
    }
    let mx = load<f32>(row);
    for (let j = 1; j < N; j++) mx = max(mx, load<f32>(row + ((<usize>j) << 2)));
    const sum = expRow(N, row, drow, mx);
    const to = (<usize>target) << 2;
    const loss = Mathf.log(sum) + mx - load<f32>(row + to);
    store<f32>(losses + ((<usize>i) << 2), loss);
    total += <f64>loss;
    const s = scale / sum;
    for (let j = 0; j < N; j++) {
      const o = (<usize>j) << 2;
      store<f32>(drow + o, load<f32>(drow + o) * s);
    }
    store<f32>(drow + to, load<f32>(drow + to) - scale);
  }
  return total;
}

/** The sum of n float32 values at p, in float64, in order (seqCrossEntropy's total from its row losses). */
export function sumFloats(n: i32, p: usize): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) total += <f64>load<f32>(p + ((<usize>i) << 2));
  return total;
}

/** out = a + b over n values (vectors of 4: up to 3 values past n are touched too). */
export function addForward(n: i32, a: usize, b: usize, out: usize): void {
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 16) v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
}

/** dx = (acc ? dx : 0) + dy over n values, in vectors of 4 like addForward. */
export function addGrad(n: i32, dy: usize, dx: usize, acc: i32): void {
  if (!acc) {
    memory.copy(dx, dy, (<usize>n) << 2);
    return;
  }
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 16) v128.store(dx + o, f32x4.add(v128.load(dx + o), v128.load(dy + o)));
}

/**
 * out[b, t, :] = x[b, t, :] + pos[t, :] for B lines of T positions of D
 * values: the position embedding added to every line of the batch.
 */
export function addPositions(B: i32, T: i32, D: i32, x: usize, pos: usize, out: usize): void {
  const lineBytes = (<usize>(T * D)) << 2;
  for (let b = 0; b < B; b++) {
    const o = <usize>b * lineBytes;
    addForward(T * D, x + o, pos, out + o);
  }
}

/**
 * makemore.py's causal bag of words: out[b, t, :] = the mean of x[b, s, :]
 * over s = 0..t, a running sum divided by t + 1.
 */
export function causalMeanForward(B: i32, T: i32, D: i32, x: usize, out: usize): void {
  const rowBytes = (<usize>D) << 2;
  for (let b = 0; b < B; b++) {
    const line = <usize>(b * T) * rowBytes;
    memory.copy(out + line, x + line, rowBytes); // the running sum, kept in out's row t...
    for (let t = 1; t < T; t++) {
      const o = line + <usize>t * rowBytes;
      addRow(D, out + o - rowBytes, x + o, out + o);
    }
    for (let t = T - 1; t > 0; t--) scaleRow(D, out + line + <usize>t * rowBytes, <f32>1.0 / <f32>(t + 1)); // ...then divided
  }
}

/** dx[b, s, :] (+)= Σ_{t ≥ s} dy[b, t, :] / (t + 1): the running sum's gradient, summed from the end. */
export function causalMeanBackward(B: i32, T: i32, D: i32, dy: usize, dx: usize, acc: i32, tmp: usize): void {
  const rowBytes = (<usize>D) << 2;
  for (let b = 0; b < B; b++) {
    const line = <usize>(b * T) * rowBytes;
    memory.fill(tmp, 0, rowBytes);
    for (let t = T - 1; t >= 0; t--) {
      const o = line + <usize>t * rowBytes;
      axpy(D, <f32>1.0 / <f32>(t + 1), dy + o, tmp);
      if (acc) addRow(D, dx + o, tmp, dx + o);
      else memory.copy(dx + o, tmp, rowBytes);
    }
  }
}

/** out = a + b over exactly n values (rows side by side must not be touched past their end). */
function addRow(n: i32, a: usize, b: usize, out: usize): void {
  let o: usize = 0;
  const end = (<usize>n) << 2;
  for (; o + 16 <= end; o += 16) v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  for (; o < end; o += 4) store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
}

/** y += a · x over n values. */
function axpy(n: i32, a: f32, x: usize, y: usize): void {
  const av = f32x4.splat(a);
  let o: usize = 0;
  const end = (<usize>n) << 2;
  for (; o + 16 <= end; o += 16) v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  for (; o < end; o += 4) store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
}

/** x *= a over n values. */
function scaleRow(n: i32, x: usize, a: f32): void {
  let o: usize = 0;
  const end = (<usize>n) << 2;
  const av = f32x4.splat(a);
  for (; o + 16 <= end; o += 16) v128.store(x + o, f32x4.mul(v128.load(x + o), av));
  for (; o < end; o += 4) store<f32>(x + o, load<f32>(x + o) * a);
}
