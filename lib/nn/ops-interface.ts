/**
 * The ops a model's forward pass is written with, once, for two
 * implementations:
 *
 * - **eager** (lib/nn/eager.ts): tfjs tensors in their natural shapes
 *   ([B, T, C], [B, C]) with automatic differentiation: the reference, and
 *   what a learner's own model runs on;
 * - **the graph recorder** of the fused engine (lib/engines/graph.ts): a value
 *   is a [rows, cols] matrix in kernel memory (the leading axes folded into
 *   rows), and each op lays out its buffers and records its forward and
 *   backward kernel calls.
 *
 * Either way the last axis of a value is its features, and parameters are the
 * model's tfjs variables. A model implements `logits(o)` over these ops and
 * runs it on the eager ops for its public `forward(X, training)`; the fused
 * engine runs the same `logits(o)` on the recorder.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";

/** A weight and an optional bias, as `nn.Linear` holds them (W transposed: [fanIn, fanOut]). */
export interface LinearParams {
  /** [fanIn, fanOut] */
  W: tfjs.Variable;
  /** [fanOut], or null without bias */
  b: tfjs.Variable | null;
}

/**
 * A batch normalization as the ops see it: `gamma · (x - mean) / sqrt(var + eps) + beta`.
 * Training normalizes with the batch's variance divided by `divisor` ("n" like
 * torch.nn.BatchNorm1d, "n-1" like the lecture's `hpreact.std(0)`) and moves the
 * running statistics by `momentum` towards the batch mean and towards the
 * unbiased batch variance (`runningKind` "var") or `sqrt(unbiased var + eps)`
 * ("std"); evaluation normalizes with the running statistics.
 */
export interface BatchNormState {
  /** gain [dim] */
  gamma: tfjs.Variable;
  /** shift [dim] */
  beta: tfjs.Variable;
  /** running mean: [dim], or [T·dim] with statistics per position */
  runningMean: tfjs.Variable;
  /** running variance or std, the shape of the mean */
  running: tfjs.Variable;
  /** what `running` holds */
  runningKind: "var" | "std";
  /** added to the variance */
  eps: number;
  /** weight of a batch in the running statistics (0: leave them alone) */
  momentum: number;
  /** divisor of the batch variance used to normalize */
  divisor: "n" | "n-1";
  /**
   * "rows": one mean and variance per feature over every row (lecture 5's
   * dimensions (0, 1) of [B, T, dim]). "examples": one per position and
   * feature, over the examples only (lecture 5's bug, dimension 0), with
   * running statistics of T · dim values while gamma and beta stay [dim].
   */
  statsOver: "rows" | "examples";
}

/** Which recurrence: makemore.py's RNNCell (one gate) or GRUCell (gates z, r, h̄ in that order). */
export type Cell = "rnn" | "gru";

/** What {@link Ops.windowLinear} reads at each position. */
export interface Window {
  /** the token that stands in before the line starts */
  blank: number;
  /** order of the window's embeddings side by side (the rows of W they meet) */
  order: "newest first" | "oldest first";
}

/** An L2 term `coefficient · mean(param²)` of a training loss. */
export interface L2Term {
  /** a parameter of the model */
  param: tfjs.Variable;
  /** its weight (the neural bigram's lambda) */
  coefficient: number;
}

/** The ops of a forward pass over values V (see the module comment). */
export interface Ops<V> {
  /** batch statistics and running-statistics updates (true), or evaluation (false) */
  readonly training: boolean;
  /** the input tokens, int32 [B, T] */
  readonly tokens: V;
  /** rows of `table` [N, D] picked by the int32 `ids` (default the tokens): [...ids, D] */
  embed(table: tfjs.Variable, ids?: V): V;
  /** x [B, T, D] plus row t of `table` at position t (position embeddings) */
  positions(x: V, table: tfjs.Variable): V;
  /** `nn.Linear` over the last axis: x W (+ b) */
  linear(x: V, W: tfjs.Variable, b: tfjs.Variable | null): V;
  /** a + b, the same shape (a residual stream) */
  add(a: V, b: V): V;
  /** elementwise tanh */
  tanh(x: V): V;
  /** makemore.py's NewGELU (the tanh form), elementwise */
  gelu(x: V): V;
  /** `nn.LayerNorm` over the last axis (biased variance, eps 1e-5) */
  layerNorm(x: V, gain: tfjs.Variable, shift: tfjs.Variable): V;
  /**
   * Causal self-attention of x [B, T, C] up to its output projection: q, k, v =
   * x `cAttn` (C -> 3C), softmax(q kᵀ / √hs) v with position t seeing 0..t, per
   * head, heads side by side: [B, T, C].
   */
  attention(x: V, cAttn: LinearParams, nHead: number): V;
  /** makemore.py's CausalBoW: position t gets the mean of positions 0..t of its line */
  causalMean(x: V): V;
  /**
   * The recurrence of makemore.py's RNN over the tokens embedded by `table`,
   * from the learned start state [1, H]: the hidden states [B, T, H]. Each
   * gate is a Linear over [x_t, h_{t-1}] with W [E + H, H].
   */
  recurrence(cell: Cell, table: tfjs.Variable, start: tfjs.Variable, gates: readonly LinearParams[]): V;
  /**
   * At every position, the embeddings (`table`) of the last w tokens side by
   * side (`window.blank` before the line starts), through one Linear: W
   * [w · D, out] holds one block of rows per place in the window.
   */
  windowLinear(table: tfjs.Variable, W: tfjs.Variable, b: tfjs.Variable | null, window: Window): V;
  /**
   * Lecture 5's FlattenConsecutive(n): n consecutive positions side by side,
   * [B, T, C] -> [B, T/n, C·n] (the position axis dropped when one is left);
   * without n, every position ([B, T·C], lecture 3's Flatten).
   */
  flatten(x: V, n?: number): V;
  /** batch normalization (see {@link BatchNormState}), in the mode {@link Ops.training} says */
  batchNorm(x: V, bn: BatchNormState): V;
}

/** Something applied by ops: a layer of lib/nn/layers.ts. */
export interface Applies {
  /** the layer's computation on any ops */
  apply<V>(o: Ops<V>, x: V): V;
}

/** `x` through each of `layers` in turn. */
export function applyAll<V>(o: Ops<V>, layers: readonly Applies[], x: V): V {
  return layers.reduce((h, l) => l.apply(o, h), x);
}
