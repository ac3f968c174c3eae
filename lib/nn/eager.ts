/**
 * The eager implementation of {@link Ops}: tfjs tensors in their natural
 * shapes, differentiated by tfjs. It is the reference every fused op is
 * checked against, and what a model's public `forward(X, training)` runs.
 * Where a hand-written gradient makes a step faster (or possible: the wasm
 * backend has no UnsortedSegmentSum, which tf.gather's gradient needs), the op
 * uses it: the embedding, `linear` and training-mode batch norm of lib/nn/ops.ts.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { tf } from "../runtime/tf";
import { batchNormTrain, embedding, linear } from "./ops";
import type { BatchNormState, Cell, LinearParams, Ops, Window } from "./ops-interface";

/** What an {@link EagerOps} tells its caller while it runs. */
export interface EagerListener {
  /** the attention probabilities [B, nHead, T, T] of each attention op (kept: the listener disposes them) */
  attention?: (probs: tfjs.Tensor4D) => void;
}

/** {@link Ops} over tfjs tensors. Intermediate tensors belong to the caller's scope (call it inside tf.tidy). */
export class EagerOps implements Ops<tfjs.Tensor> {
  /**
   * @param X - the input tokens [B, T] (null for ops that never read them: a single layer's forward)
   * @param training - batch statistics (true) or running statistics (false)
   */
  constructor(
    private readonly X: tfjs.Tensor2D | null,
    readonly training: boolean,
    private readonly listener: EagerListener = {},
  ) {}

  get tokens(): tfjs.Tensor2D {
    if (!this.X) throw new Error("these ops were made without input tokens");
    return this.X;
  }

  embed(table: tfjs.Variable, ids: tfjs.Tensor = this.tokens): tfjs.Tensor {
    return embedding(table as tfjs.Tensor2D, ids);
  }

  positions(x: tfjs.Tensor, table: tfjs.Variable): tfjs.Tensor {
    const T = x.shape[1] as number;
    return tf.add(x, T === table.shape[0] ? table : table.slice([0, 0], [T, -1])); // + [T, D]
  }

  linear(x: tfjs.Tensor, W: tfjs.Variable, b: tfjs.Variable | null): tfjs.Tensor {
    const [fanIn, fanOut] = W.shape as [number, number];
    const bias = b as tfjs.Tensor1D | null;
    if (x.rank === 2) return linear(x as tfjs.Tensor2D, W as tfjs.Tensor2D, bias);
    const rows = x.reshape([-1, fanIn]) as tfjs.Tensor2D;
    return linear(rows, W as tfjs.Tensor2D, bias).reshape([...x.shape.slice(0, -1), fanOut]);
  }

  add(a: tfjs.Tensor, b: tfjs.Tensor): tfjs.Tensor {
    return tf.add(a, b);
  }

  tanh(x: tfjs.Tensor): tfjs.Tensor {
    return tf.tanh(x);
  }

  gelu(x: tfjs.Tensor): tfjs.Tensor {
    const cube = tf.mul(tf.mul(x, x), x); // x*x*x: tf.pow's gradient also differentiates the exponent
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  }

  layerNorm(x: tfjs.Tensor, gain: tfjs.Variable, shift: tfjs.Variable): tfjs.Tensor {
    const { mean, variance } = tf.moments(x, x.rank - 1, true); // [..., 1] each
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(normed, gain), shift);
  }

  attention(x: tfjs.Tensor, cAttn: LinearParams, nHead: number): tfjs.Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const hs = C / nHead;
    // c_attn's weight is cut into its q, k and v columns (a cheap slice of [C, 3C]) rather than
    // its output: on wasm, slicing [B, T, 3C] activations costs more than the products
    const Ws = tf.split(cAttn.W, 3, 1);
    const bs = tf.split(cAttn.b as tfjs.Variable, 3);
    const project = (i: number, order: number[]): tfjs.Tensor =>
      this.linear(x, Ws[i] as tfjs.Variable, bs[i] as tfjs.Variable)
        .reshape([B, T, nHead, hs])
        .transpose(order);
    const q = project(0, [0, 2, 1, 3]); // [B, nh, T, hs]
    const kT = project(1, [0, 2, 3, 1]); // [B, nh, hs, T]: transposed here, a plain product below
    const v = project(2, [0, 2, 1, 3]); // [B, nh, T, hs]
    const scores = tf.add(tf.mul(tf.matMul(q, kT), 1 / Math.sqrt(hs)), causalMask(T)); // [B, nh, T, T]
    const probs = tf.softmax(scores) as tfjs.Tensor4D;
    this.listener.attention?.(tf.keep(probs)); // kept: the caller's tidy frees everything else
    const y = tf.matMul(probs, v); // [B, nh, T, hs]
    return y.transpose([0, 2, 1, 3]).reshape([B, T, C]); // heads side by side again
  }

  causalMean(x: tfjs.Tensor): tfjs.Tensor {
    return tf.matMul(averagingWeights(x.shape[1] as number), x); // [T, T] · [B, T, D] broadcast over B
  }

  recurrence(cell: Cell, table: tfjs.Variable, start: tfjs.Variable, gates: readonly LinearParams[]): tfjs.Tensor {
    const [B, T] = this.tokens.shape;
    const E = table.shape[1] as number;
    const split = gates.map((g) => splitRows(g.W as tfjs.Tensor2D, E));
    // the x half of every gate at every step, biases included: [B·T, G·H] in one product
    const Wx = tf.concat(
      split.map((s) => s.x),
      1,
    ) as tfjs.Tensor2D;
    const bx = tf.concat(gates.map((g) => g.b as tfjs.Tensor1D)) as tfjs.Tensor1D;
    const emb = this.embed(table).reshape([B * T, E]) as tfjs.Tensor2D;
    const xs = tf.unstack(linear(emb, Wx, bx).reshape([B, T, -1]), 1) as tfjs.Tensor2D[]; // T × [B, G·H]
    let h = tf.broadcastTo(start, [B, start.shape[1] as number]) as tfjs.Tensor2D; // [B, H]
    const hiddens: tfjs.Tensor2D[] = [];
    for (const xt of xs) {
      h = cell === "rnn" ? (tf.tanh(tf.add(xt, linear(h, split[0]!.h))) as tfjs.Tensor2D) : gruStep(xt, h, split);
      hiddens.push(h);
    }
    return tf.stack(hiddens, 1); // [B, T, H]
  }

  windowLinear(table: tfjs.Variable, W: tfjs.Variable, b: tfjs.Variable | null, window: Window): tfjs.Tensor {
    const [B, T] = this.tokens.shape;
    const w = (W.shape[0] as number) / (table.shape[1] as number);
    const padded = tf.concat([tf.fill([B, w], window.blank, "int32"), this.tokens], 1); // [B, w + T]
    const columns = windowColumns(T, w, window.order);
    const windows = tf.gather(padded, columns, 1).reshape([B, T, w]); // [B, T, w]
    return this.linear(this.embed(table, windows).reshape([B, T, -1]), W, b); // [B, T, w·D] -> [B, T, out]
  }

  flatten(x: tfjs.Tensor, n?: number): tfjs.Tensor {
    const B = x.shape[0] as number;
    if (n === undefined) return x.reshape([B, -1]);
    if (x.rank !== 3) throw new RangeError(`FlattenConsecutive expects [B, T, C], got [${x.shape.join(", ")}]`);
    const [T, C] = [x.shape[1] as number, x.shape[2] as number];
    if (T % n !== 0) throw new RangeError(`${T} positions do not split into groups of ${n}`);
    return T === n ? x.reshape([B, C * n]) : x.reshape([B, T / n, C * n]);
  }

  batchNorm(x: tfjs.Tensor, bn: BatchNormState): tfjs.Tensor {
    if (bn.statsOver === "examples") return perPositionNorm(x as tfjs.Tensor3D, bn, this.training);
    const dim = bn.gamma.size;
    if (x.rank === 2) return rowNorm(x as tfjs.Tensor2D, bn, this.training);
    return tf.tidy(() => rowNorm(x.reshape([-1, dim]) as tfjs.Tensor2D, bn, this.training).reshape(x.shape));
  }
}

/**
 * Batch norm with statistics over the rows of x [n, dim]: in training one op
 * with a hand-derived backward pass ({@link batchNormTrain}), which hands the
 * batch statistics to the running ones.
 */
function rowNorm(x: tfjs.Tensor2D, bn: BatchNormState, training: boolean): tfjs.Tensor2D {
  if (!training) return tf.tidy(() => rowNormEval(x, bn));
  const m = bn.momentum;
  return batchNormTrain(x, bn.gamma as tfjs.Tensor1D, bn.beta as tfjs.Tensor1D, {
    eps: bn.eps,
    unbiasedNormalization: bn.divisor === "n-1",
    onBatchStats: m > 0 ? (mean, unbiasedVar) => blendRunning(bn, mean, runningValue(bn, unbiasedVar)) : undefined,
  });
}

/** The batch's statistic that the running one follows: the unbiased variance, or sqrt(it + eps). */
function runningValue(bn: BatchNormState, unbiasedVar: tfjs.Tensor): tfjs.Tensor {
  return bn.runningKind === "std" ? tf.sqrt(tf.add(unbiasedVar, bn.eps)) : unbiasedVar;
}

/** Evaluation with the running statistics. */
function rowNormEval(x: tfjs.Tensor2D, bn: BatchNormState): tfjs.Tensor2D {
  if (bn.runningKind === "std") {
    const xhat = tf.mul(tf.sub(x, bn.runningMean), tf.reciprocal(bn.running)); // the lecture's (x - mean) / std
    return tf.add(tf.mul(xhat, bn.gamma), bn.beta) as tfjs.Tensor2D;
  }
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.running, bn.eps)));
  const shift = tf.sub(bn.beta, tf.mul(bn.runningMean, scale));
  return tf.add(tf.mul(x, scale), shift) as tfjs.Tensor2D;
}

/** running = (1 - momentum) · running + momentum · batch, for statistics of any shape (stored flat). */
function blendRunning(bn: BatchNormState, mean: tfjs.Tensor, value: tfjs.Tensor): void {
  const m = bn.momentum;
  const flat = (t: tfjs.Tensor): tfjs.Tensor => t.reshape([-1]); // assign is not on the loss's path
  bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(flat(mean), m)));
  bn.running.assign(tf.add(tf.mul(bn.running, 1 - m), tf.mul(flat(value), m)));
}

/**
 * Lecture 5's buggy form: statistics over dimension 0 of x [B, T, dim], one
 * mean and variance per (position, feature), in plain ops that tfjs differentiates.
 */
function perPositionNorm(x: tfjs.Tensor3D, bn: BatchNormState, training: boolean): tfjs.Tensor3D {
  const [B, T, C] = x.shape;
  const positions = bn.runningMean.size / bn.gamma.size;
  if (x.rank !== 3 || T !== positions || C !== bn.gamma.size) {
    throw new RangeError(`expected [B, ${positions}, ${bn.gamma.size}], got [${x.shape.join(", ")}]`);
  }
  return tf.tidy(() => {
    if (!training) {
      const mean = bn.runningMean.reshape([T, C]);
      const inv = tf.rsqrt(tf.add(bn.running.reshape([T, C]), bn.eps));
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), inv), bn.gamma), bn.beta) as tfjs.Tensor3D;
    }
    const mean = tf.mean(x, 0); // [T, C]: from B values each
    const sumSq = tf.sum(tf.square(tf.sub(x, mean)), 0);
    const variance = tf.div(sumSq, bn.divisor === "n-1" ? B - 1 : B);
    if (bn.momentum > 0) blendRunning(bn, mean, runningValue(bn, tf.div(sumSq, B - 1)));
    const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, bn.eps)));
    return tf.add(tf.mul(xhat, bn.gamma), bn.beta) as tfjs.Tensor3D;
  });
}

/** A gate's weight [E + H, H] split into the rows that multiply x ([E, H]) and those that multiply h ([H, H]). */
interface SplitWeight {
  x: tfjs.Tensor2D;
  h: tfjs.Tensor2D;
}

function splitRows(W: tfjs.Tensor2D, E: number): SplitWeight {
  const [x, h] = tf.split(W, [E, W.shape[0] - E], 0) as [tfjs.Tensor2D, tfjs.Tensor2D];
  return { x, h };
}

/**
 * One GRUCell step from xt = [x·Wz_x + bz, x·Wr_x + br, x·Wh̄_x + bh̄] ([B, 3H])
 * and the previous hidden state h [B, H]. The products go through `linear`,
 * whose backward pass avoids wasm's slow transposed matrix products.
 */
function gruStep(xt: tfjs.Tensor2D, h: tfjs.Tensor2D, [z, r, hbar]: SplitWeight[]): tfjs.Tensor2D {
  const H = h.shape[1];
  const [xz, xr, xhbar] = tf.split(xt, [H, H, H], 1) as [tfjs.Tensor2D, tfjs.Tensor2D, tfjs.Tensor2D];
  const reset = tf.sigmoid(tf.add(xr, linear(h, r!.h)));
  const candidate = tf.tanh(tf.add(xhbar, linear(tf.mul(reset, h) as tfjs.Tensor2D, hbar!.h)));
  const update = tf.sigmoid(tf.add(xz, linear(h, z!.h)));
  return tf.add(h, tf.mul(update, tf.sub(candidate, h))) as tfjs.Tensor2D; // (1 - z)·h + z·h̄
}

/**
 * Where position t's k-th window token comes from in a line padded on the
 * left with w blanks: newest first it is column w + t - k, oldest first
 * t + 1 + k. A flat int32 [T·w] (row t, then k).
 */
function windowColumns(T: number, w: number, order: Window["order"]): tfjs.Tensor1D {
  const cols = new Int32Array(T * w);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < w; k++) cols[t * w + k] = order === "newest first" ? w + t - k : t + 1 + k;
  }
  return tf.tensor1d(cols, "int32");
}

/**
 * The causal mask as an additive constant [n, n]: 0 where column ≤ row, -∞
 * above the diagonal (masked_fill(tril == 0, -inf) before a softmax).
 */
export function causalMask(n: number): tfjs.Tensor2D {
  const values = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) values[i * n + j] = -Infinity;
  return tf.tensor2d(values, [n, n]);
}

/**
 * CausalBoW's weights [n, n]: row t holds 1/(t+1) in columns 0..t and 0
 * after them (what softmax gives on zeros masked with -inf above the diagonal).
 */
export function averagingWeights(n: number): tfjs.Tensor2D {
  const values = new Float32Array(n * n);
  for (let t = 0; t < n; t++) for (let s = 0; s <= t; s++) values[t * n + s] = 1 / (t + 1);
  return tf.tensor2d(values, [n, n]);
}
