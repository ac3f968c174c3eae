/**
 * Health statistics of a deep network, as lecture 3 looks at them: for each
 * layer the mean, standard deviation and saturation of its outputs and of the
 * gradients flowing into them, histograms of both, the grad:data ratio of
 * each weight matrix, and over training the update:data ratio
 * `log10(std(lr * grad) / std(data))` of each parameter.
 *
 * Gradients of intermediate outputs. PyTorch keeps them with
 * `layer.out.retain_grad()`; tfjs only returns gradients of the tensors it is
 * asked about. A statistics pass ({@link statsPass}) runs the forward pass
 * with a hook after every layer that passes the output through a *probe*: an
 * identity op made with `tf.customGrad` whose backward pass hands the
 * incoming gradient `dy` (which is dL/d out) to a recorder and passes it on
 * unchanged. One forward and one backward pass thus give the loss, every
 * parameter gradient and every layer-output gradient, without changing any
 * of them. (The alternative, adding a zero tensor after each layer and asking
 * `tf.grads` for the gradient with respect to it, needs a second backward
 * pass for the weights; the tests use it to check the probe.)
 *
 * Conventions: standard deviations are unbiased (n - 1), like torch's
 * `.std()`; histograms have 100 equal bins from min to max, like
 * `torch.histogram`; saturation is the fraction of |t| above 0.97 (tanh
 * outputs) and the saturation map marks |h| > 0.99, both as in the lecture.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Layer, LayerHook, LayerKind } from "./layers";
import { BatchNorm1d } from "./layers";
import { crossEntropy } from "./ops";
import { tf } from "../runtime/tf";

/** The |t| above which a tanh output counts as saturated in the lecture's printout. */
export const SATURATION_THRESHOLD = 0.97;
/** The |h| above which the lecture's saturation map paints a cell white. */
export const SATURATION_MAP_THRESHOLD = 0.99;

/** Counts of values over equal-width bins. */
export interface Histogram {
  /** bins + 1 increasing bin edges; bin i is [edges[i], edges[i+1]) (the last bin includes its right edge) */
  edges: number[];
  /** values per bin */
  counts: number[];
  /** values counted (finite ones) */
  total: number;
}

/** Options of {@link histogramOf}. */
export interface HistogramOptions {
  /** number of bins (default 100, like `torch.histogram`) */
  bins?: number;
  /** [low, high] range; default the min and max of the values. Values outside are not counted. */
  range?: readonly [number, number];
}

/** Numbers from a tensor (read synchronously) or from an array. */
export type Values = ArrayLike<number> | tfjs.Tensor;

function toArray(values: Values): ArrayLike<number> {
  return values instanceof tf.Tensor ? (values.dataSync() as Float32Array) : values;
}

/**
 * A histogram of values over equal bins, like `torch.histogram(t, bins)`.
 * Non-finite values are skipped. When all values are equal the range is
 * widened by 0.5 on each side so the bins are not empty.
 * @throws RangeError when bins is not a positive integer or the range is not increasing.
 */
export function histogramOf(values: Values, options: HistogramOptions = {}): Histogram {
  const bins = options.bins ?? 100;
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const xs = toArray(values);
  let lo: number;
  let hi: number;
  if (options.range) {
    [lo, hi] = options.range;
    if (!(hi > lo)) throw new RangeError(`histogram range must be increasing, got [${lo}, ${hi}]`);
  } else {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i] as number;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) [lo, hi] = [0, 1];
    else if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  let total = 0;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i] as number;
    if (!Number.isFinite(v) || v < lo || v > hi) continue;
    const b = Math.min(bins - 1, Math.floor((v - lo) / width));
    counts[b] = (counts[b] as number) + 1;
    total++;
  }
  return { edges, counts, total };
}

/** The bin centers of a histogram. */
export function binCenters(h: Histogram): number[] {
  return h.counts.map((_, i) => ((h.edges[i] as number) + (h.edges[i + 1] as number)) / 2);
}

/** Counts divided by total * bin width, so the area is 1 (`density=True`). */
export function histogramDensity(h: Histogram): number[] {
  return h.counts.map((c, i) => {
    const width = (h.edges[i + 1] as number) - (h.edges[i] as number);
    return h.total > 0 && width > 0 ? c / (h.total * width) : 0;
  });
}

/** Mean, spread and saturation of a set of values. */
export interface Summary {
  /** number of values */
  count: number;
  /** mean */
  mean: number;
  /** unbiased standard deviation (0 for fewer than 2 values) */
  std: number;
  /** smallest value */
  min: number;
  /** largest value */
  max: number;
  /** fraction of values with |v| above the threshold (in [0, 1]) */
  saturated: number;
}

/**
 * Mean, unbiased std, min, max and the fraction with |v| > threshold
 * (default {@link SATURATION_THRESHOLD}). Two passes, in double precision.
 */
export function summarize(values: Values, threshold = SATURATION_THRESHOLD): Summary {
  const xs = toArray(values);
  const n = xs.length;
  if (n === 0) return { count: 0, mean: NaN, std: NaN, min: NaN, max: NaN, saturated: NaN };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let above = 0;
  for (let i = 0; i < n; i++) {
    const v = xs[i] as number;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (Math.abs(v) > threshold) above++;
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += ((xs[i] as number) - mean) ** 2;
  return { count: n, mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, min, max, saturated: above / n };
}

/** The fraction of values with |v| > threshold (default 0.97). */
export function saturationFraction(values: Values, threshold = SATURATION_THRESHOLD): number {
  const xs = toArray(values);
  let above = 0;
  for (let i = 0; i < xs.length; i++) if (Math.abs(xs[i] as number) > threshold) above++;
  return xs.length > 0 ? above / xs.length : NaN;
}

/**
 * A 2-D matrix: rows of numbers, a rank-2 tensor, or flat row-major values
 * with their shape (such as a {@link LayerRecord}'s `out` and `shape`).
 */
export type Matrix2D =
  | readonly (readonly number[])[]
  | tfjs.Tensor2D
  | { readonly out: ArrayLike<number>; readonly shape: readonly number[] };

/** The rows of a {@link Matrix2D}. @throws RangeError for flat values whose shape is not 2-D. */
export function matrixRows(m: Matrix2D): number[][] {
  if (m instanceof tf.Tensor) return m.arraySync() as number[][];
  if (!("out" in m)) return m.map((r) => [...r]);
  const [rows, cols] = m.shape;
  if (m.shape.length !== 2 || rows === undefined || cols === undefined || rows * cols !== m.out.length) {
    throw new RangeError(`expected a 2-D shape matching ${m.out.length} values, got [${m.shape.join(", ")}]`);
  }
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => m.out[i * cols + j] as number));
}

/**
 * The lecture's dead-neuron picture `h.abs() > 0.99`: a [batch, units]
 * matrix of 1 where |h| > threshold, else 0. A column of ones is a unit
 * saturated for every example: its gradient is (almost) zero, it never learns.
 */
export function saturationMap(h: Matrix2D, threshold = SATURATION_MAP_THRESHOLD): number[][] {
  return matrixRows(h).map((row) => row.map((v) => (Math.abs(v) > threshold ? 1 : 0)));
}

/** Fraction of columns of a saturation map that are 1 in every row (dead units). */
export function deadFraction(map: readonly (readonly number[])[]): number {
  const cols = map[0]?.length ?? 0;
  if (cols === 0) return NaN;
  let dead = 0;
  for (let j = 0; j < cols; j++) if (map.every((row) => row[j] === 1)) dead++;
  return dead / cols;
}

// ---------------------------------------------------------------------------
// Statistics pass

/** What {@link statsPass} needs of a model: layers, parameters and a forward pass taking a hook. */
export interface ProbedModel {
  /** the layers whose outputs are watched */
  readonly layers: readonly Layer[];
  /** every trainable variable */
  parameters(): tfjs.Variable[];
  /** logits for int32 contexts; `hook` sees each layer's output */
  forward(X: tfjs.Tensor2D, training: boolean, hook?: LayerHook): tfjs.Tensor2D;
}

/** One layer's output and the gradient of the loss with respect to it, as read by {@link statsPass}. */
export interface LayerRecord {
  /** position in `layers` */
  index: number;
  /** the layer's class name */
  kind: LayerKind;
  /** output shape */
  shape: number[];
  /** output values, row-major */
  out: Float32Array;
  /** dL/d out, row-major */
  grad: Float32Array;
}

/** One parameter and its gradient, as read by {@link statsPass}. */
export interface ParamRecord {
  /** position in `parameters()` */
  index: number;
  /** shape */
  shape: number[];
  /** values */
  data: Float32Array;
  /** dL/d parameter (zeros when the loss does not depend on it) */
  grad: Float32Array;
}

/** Everything one statistics pass saw, as plain arrays (no tensors). */
export interface StatsSnapshot {
  /** the loss of the batch */
  loss: number;
  /** one record per layer, in order */
  layers: LayerRecord[];
  /** one record per parameter, in order */
  params: ParamRecord[];
}

/** Options of {@link statsPass}. */
export interface StatsPassOptions {
  /** run the layers in training mode (batch statistics; default true, as after a training step) */
  training?: boolean;
  /** let batch norm move its running statistics (default false: the pass leaves the model unchanged) */
  updateRunningStats?: boolean;
}

/**
 * An identity op whose backward pass gives the incoming gradient to
 * `onGrad` (see the module comment). `onGrad` must not keep `dy` itself:
 * it is freed after the backward pass; clone and keep it to hold on.
 */
export function gradientProbe(x: tfjs.Tensor, onGrad: (dy: tfjs.Tensor) => void): tfjs.Tensor {
  const op = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const input = args[0] as tfjs.Tensor;
    return {
      value: input.clone(),
      gradFunc: (dy: tfjs.Tensor): tfjs.Tensor => {
        onGrad(dy);
        return dy;
      },
    };
  });
  return op(x);
}

/**
 * One forward and backward pass of the cross-entropy loss on a batch that
 * reads every layer's output, its gradient, every parameter and its
 * gradient (the lecture's loop with `retain_grad`, then `layer.out` and
 * `layer.out.grad`). The parameters are not changed; batch-norm running
 * statistics are not moved unless asked. No tensors are left behind.
 *
 * @param X - int32 contexts [B, blockSize]
 * @param Y - int32 targets [B]
 */
export function statsPass(
  model: ProbedModel,
  X: tfjs.Tensor2D,
  Y: tfjs.Tensor1D,
  options: StatsPassOptions = {},
): StatsSnapshot {
  const training = options.training ?? true;
  const norms = model.layers.filter((l): l is BatchNorm1d => l instanceof BatchNorm1d);
  const saved = norms.map((l) => l.updateRunningStats);
  if (!options.updateRunningStats) for (const l of norms) l.updateRunningStats = false;
  const outs: (tfjs.Tensor | null)[] = model.layers.map(() => null);
  const grads: (tfjs.Tensor | null)[] = model.layers.map(() => null);
  const params = model.parameters();
  try {
    const result = tf.tidy(() => {
      const hook: LayerHook = (out, _layer, i) => {
        outs[i] = tf.keep(out.clone());
        return gradientProbe(out, (dy) => {
          grads[i]?.dispose();
          grads[i] = tf.keep(dy.clone());
        });
      };
      const { value, grads: g } = tf.variableGrads(() => crossEntropy(model.forward(X, training, hook), Y), params);
      return { value, g };
    });
    const loss = result.value.dataSync()[0] as number;
    const layers: LayerRecord[] = model.layers.map((layer, i) => {
      const out = outs[i];
      if (!out) throw new Error(`layer ${i} (${layer.kind}) produced no output in the statistics pass`);
      const grad = grads[i];
      return {
        index: i,
        kind: layer.kind,
        shape: [...out.shape],
        out: Float32Array.from(out.dataSync() as Float32Array),
        grad: grad ? Float32Array.from(grad.dataSync() as Float32Array) : new Float32Array(out.size),
      };
    });
    const paramRecords: ParamRecord[] = params.map((p, i) => {
      const g = result.g[p.name];
      return {
        index: i,
        shape: [...p.shape],
        data: Float32Array.from(p.dataSync() as Float32Array),
        grad: g ? Float32Array.from(g.dataSync() as Float32Array) : new Float32Array(p.size),
      };
    });
    result.value.dispose();
    for (const t of Object.values(result.g)) t.dispose();
    return { loss, layers, params: paramRecords };
  } finally {
    for (const t of [...outs, ...grads]) t?.dispose();
    norms.forEach((l, i) => (l.updateRunningStats = saved[i] as boolean));
  }
}

// ---------------------------------------------------------------------------
// Per-layer statistics from a snapshot

/** Statistics of one layer's outputs or output gradients. */
export interface LayerStat {
  /** position in `layers` */
  index: number;
  /** the layer's class name */
  kind: LayerKind;
  /** which values: outputs, gradients of outputs, or pre-activations */
  what: "activation" | "gradient" | "preactivation";
  /** mean, std and saturation of the values */
  summary: Summary;
  /** histogram of the values */
  histogram: Histogram;
}

/** Options of the per-layer statistics. */
export interface LayerStatOptions {
  /** layer kinds to include (default ["Tanh"], as in the lecture) */
  kinds?: readonly LayerKind[];
  /** include the last layer (default false: the lecture loops over `layers[:-1]`) */
  includeLast?: boolean;
  /** saturation threshold (default 0.97) */
  threshold?: number;
  /** histogram bins (default 100) */
  bins?: number;
}

function selectLayers(snapshot: StatsSnapshot, options: LayerStatOptions): LayerRecord[] {
  const kinds = options.kinds ?? ["Tanh"];
  const end = options.includeLast ? snapshot.layers.length : snapshot.layers.length - 1;
  return snapshot.layers.slice(0, end).filter((r) => kinds.includes(r.kind));
}

function layerStat(
  r: LayerRecord,
  what: LayerStat["what"],
  values: Float32Array,
  options: LayerStatOptions,
): LayerStat {
  return {
    index: r.index,
    kind: r.kind,
    what,
    summary: summarize(values, options.threshold ?? SATURATION_THRESHOLD),
    histogram: histogramOf(values, { bins: options.bins ?? 100 }),
  };
}

/** Output statistics of the chosen layers (default: every Tanh but the last layer): the forward-pass histogram. */
export function activationStats(snapshot: StatsSnapshot, options: LayerStatOptions = {}): LayerStat[] {
  return selectLayers(snapshot, options).map((r) => layerStat(r, "activation", r.out, options));
}

/** Statistics of dL/d out of the chosen layers (default: every Tanh): the backward-pass histogram. */
export function gradientStats(snapshot: StatsSnapshot, options: LayerStatOptions = {}): LayerStat[] {
  return selectLayers(snapshot, options).map((r) => layerStat(r, "gradient", r.grad, options));
}

/**
 * Statistics of the inputs of the chosen layers (default: of every Tanh), i.e.
 * the outputs of the layer before each (the pre-activations); each stat
 * carries the index and kind of that earlier layer.
 */
export function preActivationStats(snapshot: StatsSnapshot, options: LayerStatOptions = {}): LayerStat[] {
  return selectLayers(snapshot, options)
    .filter((r) => r.index > 0)
    .map((r) => {
      const before = snapshot.layers[r.index - 1] as LayerRecord;
      return layerStat(before, "preactivation", before.out, options);
    });
}

/** Statistics of one weight's gradient. */
export interface WeightGradStat {
  /** position in `parameters()` */
  index: number;
  /** shape of the weight */
  shape: number[];
  /** mean, std of the gradient */
  summary: Summary;
  /** std(grad) / std(data): how big a step is relative to the values */
  gradDataRatio: number;
  /** histogram of the gradient */
  histogram: Histogram;
}

/**
 * Gradient statistics of every parameter of the given rank (default 2: the
 * weight matrices and the embedding table, as in the lecture), with the
 * grad:data ratio std(grad) / std(data).
 */
export function weightGradStats(
  snapshot: StatsSnapshot,
  options: { rank?: number; bins?: number } = {},
): WeightGradStat[] {
  const rank = options.rank ?? 2;
  return snapshot.params
    .filter((p) => p.shape.length === rank)
    .map((p) => {
      const summary = summarize(p.grad, Infinity);
      return {
        index: p.index,
        shape: p.shape,
        summary,
        gradDataRatio: summary.std / summarize(p.data, Infinity).std,
        histogram: histogramOf(p.grad, { bins: options.bins ?? 100 }),
      };
    });
}

function signed(x: number, digits: number): string {
  return (x >= 0 ? "+" : "") + x.toFixed(digits);
}

/**
 * The lecture's printout of a layer, also used as the legend entry:
 * `layer 2 (Tanh): mean +0.00, std 0.64, saturated 2.40%` for activations,
 * `layer 2 (Tanh): mean +0.000000, std 3.26e-3` for gradients.
 */
export function formatLayerStat(s: LayerStat): string {
  const head = `layer ${s.index} (${s.kind})`;
  const { mean, std, saturated } = s.summary;
  if (s.what === "gradient") return `${head}: mean ${signed(mean, 6)}, std ${std.toExponential(2)}`;
  if (s.what === "preactivation") return `${head}: mean ${signed(mean, 2)}, std ${std.toFixed(2)}`;
  return `${head}: mean ${signed(mean, 2)}, std ${std.toFixed(2)}, saturated ${(saturated * 100).toFixed(2)}%`;
}

/** `weight (30, 100) | mean +0.000000 | std 1.92e-3 | grad:data ratio 1.91e-3`, as the lecture prints it. */
export function formatWeightGradStat(s: WeightGradStat): string {
  return (
    `weight (${s.shape.join(", ")}) | mean ${signed(s.summary.mean, 6)} | std ${s.summary.std.toExponential(2)}` +
    ` | grad:data ratio ${s.gradDataRatio.toExponential(2)}`
  );
}

// ---------------------------------------------------------------------------
// Update ratios over training

/**
 * Gradients of one step, in any of the shapes a training loop may hold
 * them: by variable, by variable name (what `tf.variableGrads` returns), or
 * an array aligned with the recorder's parameter list.
 */
export type GradientSet = ReadonlyMap<tfjs.Variable, tfjs.Tensor> | tfjs.NamedTensorMap | readonly tfjs.Tensor[];

/** Options of {@link UpdateRatioRecorder}. */
export interface UpdateRatioOptions {
  /** which parameters to follow (default: rank 2, the weights the lecture plots) */
  filter?: (p: tfjs.Variable, index: number) => boolean;
  /** record every this many steps (default 1) */
  every?: number;
}

/** The update ratios of one followed parameter over the recorded steps. */
export interface UpdateRatioSeries {
  /** position in the parameter list given to the recorder */
  index: number;
  /** e.g. "param 1 (30, 100)" */
  label: string;
  /** shape of the parameter */
  shape: number[];
  /** log10(std(lr * grad) / std(data)) per recorded step */
  values: number[];
}

/**
 * Records `log10(std(lr * grad) / std(data))` of each followed parameter at
 * each step: the lecture's `ud` list. Feed it from the training loop's
 * gradient hook with `recorder.record(step, grads, lr)` (or pass
 * `recorder.onGrads`). Each record computes every ratio as a tensor and reads
 * them all with one `dataSync`; it disposes what it makes and not the
 * gradients it is given.
 */
export class UpdateRatioRecorder {
  /** steps recorded */
  readonly steps: number[] = [];
  /** one series per followed parameter */
  readonly series: UpdateRatioSeries[];
  private readonly all: readonly tfjs.Variable[];
  private readonly followed: { p: tfjs.Variable; index: number }[];
  private readonly every: number;

  /** @param params - the model's parameters (array-shaped gradients are aligned with this list) */
  constructor(params: readonly tfjs.Variable[], options: UpdateRatioOptions = {}) {
    const filter = options.filter ?? ((p: tfjs.Variable) => p.rank === 2);
    this.all = params;
    this.followed = params.map((p, index) => ({ p, index })).filter(({ p, index }) => filter(p, index));
    this.every = Math.max(1, Math.floor(options.every ?? 1));
    this.series = this.followed.map(({ p, index }) => ({
      index,
      label: `param ${index} (${p.shape.join(", ")})`,
      shape: [...p.shape],
      values: [],
    }));
  }

  /** `(step, grads, lr) => recorder.record(step, grads, lr)`, for a training loop's gradient hook */
  readonly onGrads = (step: number, grads: GradientSet, lr: number): void => {
    this.record(step, grads, lr);
  };

  /**
   * Records the ratios of one step (skipped unless `step` is a multiple of
   * `every`). Returns the ratios recorded, or null when skipped.
   * @throws Error when the gradient of a followed parameter is missing.
   */
  record(step: number, grads: GradientSet, lr: number): number[] | null {
    if (step % this.every !== 0) return null;
    const ratios = updateRatios(
      this.followed.map(({ p }) => p),
      this.followed.map(({ p, index }) => this.gradOf(grads, p, index)),
      lr,
    );
    this.steps.push(step);
    ratios.forEach((r, k) => (this.series[k] as UpdateRatioSeries).values.push(r));
    return ratios;
  }

  private gradOf(grads: GradientSet, p: tfjs.Variable, index: number): tfjs.Tensor {
    let g: tfjs.Tensor | undefined;
    if (Array.isArray(grads)) g = (grads as readonly tfjs.Tensor[])[index];
    else if (grads instanceof Map) g = (grads as ReadonlyMap<tfjs.Variable, tfjs.Tensor>).get(p);
    else g = (grads as tfjs.NamedTensorMap)[p.name];
    if (!g) throw new Error(`no gradient for parameter ${index} (${p.name}) of ${this.all.length}`);
    return g;
  }
}

/**
 * `log10(std(lr * grad) / std(data))` for each parameter. The sum and the sum
 * of squares of every tensor are computed as tensors (three ops each) and
 * read with one `dataSync`; the variances are finished in double precision.
 * (The std's normalization cancels in the ratio.)
 */
export function updateRatios(params: readonly tfjs.Tensor[], grads: readonly tfjs.Tensor[], lr: number): number[] {
  if (params.length !== grads.length) throw new RangeError(`${params.length} parameters but ${grads.length} gradients`);
  if (params.length === 0) return [];
  const all = [...grads, ...params];
  const sums = tf.tidy(() => tf.stack(all.flatMap((t) => [tf.sum(t), tf.sum(tf.square(t))])).dataSync());
  const variance = (k: number): number => {
    const n = (all[k] as tfjs.Tensor).size;
    const s = sums[2 * k] as number;
    const ss = sums[2 * k + 1] as number;
    return Math.max(0, ss - (s * s) / n) / n;
  };
  const m = params.length;
  return params.map((_, k) => Math.log10(lr) + 0.5 * Math.log10(variance(k) / variance(m + k)));
}
