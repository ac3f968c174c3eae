/**
 * Fused graphs: makemore.py's sequence models run as a fixed list of coarse
 * ops over the kernels' memory, in place of one tfjs op per line of the model.
 *
 * A model describes its forward pass once, for a batch of B lines of T
 * positions, by calling ops on a {@link GraphBuilder} (`fusedGraph` of
 * {@link GraphModel}): each op lays out its output (a {@link GraphNode}) and
 * whatever it keeps for its backward pass, and is recorded. A {@link GraphNet}
 * then runs the recorded ops forward, the masked cross-entropy of the logits,
 * and the ops' backward passes in reverse: the hand-derived gradients of
 * every parameter, as the lecture MLPs' fused engine does (fused.ts), for
 * graphs with residual streams, attention and recurrences.
 *
 * Gradients flow by accumulation: a value read by several ops (the residual
 * stream) gets the sum of their gradients. The first op to write a gradient
 * in a backward pass writes it, the others add to it ({@link Backward.acc}),
 * so no gradient buffer needs clearing.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { SequenceModel } from "../models/model";
import { tf } from "../runtime/tf";
import type { AdamW } from "../training/optimizers";
import { bufferEnd, KernelMemory, kernelsAvailable, kernelsUnavailableReason, type KernelExports } from "./kernels";

/** A matrix in kernel memory: `rows` rows of `cols` values, row after row (byte offsets). */
export interface GraphNode {
  /** index in the graph (for gradient bookkeeping) */
  readonly id: number;
  readonly rows: number;
  readonly cols: number;
  /** byte offset of the values */
  readonly at: number;
  /** byte offset of the gradient, or -1 when nothing needs it (evaluation) */
  readonly grad: number;
}

/** What an op's backward pass is given besides the kernels. */
export interface Backward {
  /**
   * Whether a gradient is added to (1) or written (0): 0 for the first op to
   * write `node`'s gradient in this backward pass, 1 after it.
   */
  acc(node: GraphNode): 0 | 1;
}

/** One recorded op: its forward and backward passes as kernel calls. */
export interface GraphOp {
  /** for profiles: "linear", "attention", ... */
  readonly name: string;
  forward(k: KernelExports): void;
  /** absent for ops with nothing to send back (evaluation graphs have no backward) */
  backward?(k: KernelExports, b: Backward): void;
}

/** A model that runs as a fused graph. */
export interface GraphModel extends SequenceModel {
  /**
   * Records the forward pass for lines of `g.time` tokens (`g.tokens`) and
   * returns the logits [batch · time, vocab].
   */
  fusedGraph(g: GraphBuilder): GraphNode;
}

/** Whether a model can run as a fused graph. */
export function isGraphModel(model: object): model is GraphModel {
  return typeof (model as Partial<GraphModel>).fusedGraph === "function";
}

/** A parameter's place: values and gradient. */
interface ParamSlot {
  v: tfjs.Variable;
  node: GraphNode;
}

/**
 * Lays out a graph while a model records its ops. Parameters come first,
 * contiguous, then their gradients; then the tokens and targets; then each
 * op's buffers in the order the model calls them.
 */
export class GraphBuilder {
  /** int32 token ids [batch · time] (byte offset) */
  readonly tokens: number;
  /** int32 targets [batch · time], -1 for padding (byte offset) */
  readonly targets: number;
  readonly ops: GraphOp[] = [];
  /** the parameters' contiguous area: byte offsets of values and gradients (-1: none), and its floats (padding included) */
  paramArea = { at: 0, grad: -1, count: 0 };
  private readonly slots: ParamSlot[];
  private nextId = 0;

  /**
   * @param batch - lines per step
   * @param time - positions per line
   * @param alloc - returns the byte offset of `count` new zeroed 4-byte values
   * @param params - the model's parameters, in the order the optimizer sees them
   * @param training - false lays out no gradients (evaluation)
   */
  constructor(
    readonly batch: number,
    readonly time: number,
    readonly alloc: (count: number) => number,
    params: readonly tfjs.Variable[],
    readonly training: boolean,
  ) {
    this.slots = this.layOutParams(params);
    this.tokens = alloc(batch * time);
    this.targets = alloc(batch * time);
  }

  /** The parameters' slots, contiguous (each padded to 16 floats), gradients after them. */
  private layOutParams(params: readonly tfjs.Variable[]): ParamSlot[] {
    const padded = params.map((p) => Math.ceil(p.size / 16) * 16);
    const total = padded.reduce((a, b) => a + b, 0);
    const base = this.alloc(total);
    const gradBase = this.training ? this.alloc(total) : -1;
    this.paramArea = { at: base, grad: gradBase, count: total };
    let off = 0;
    return params.map((v, i) => {
      const [rows, cols] = v.rank === 1 ? [1, v.size] : [v.size / (v.shape[v.rank - 1] as number), v.shape[v.rank - 1]];
      const grad = gradBase < 0 ? -1 : gradBase + off * 4;
      const node = { id: this.nextId++, rows, cols: cols as number, at: base + off * 4, grad };
      off += padded[i] as number;
      return { v, node };
    });
  }

  /** The node of a parameter (a 1-D one is one row). */
  param(v: tfjs.Variable): GraphNode {
    const slot = this.slots.find((s) => s.v === v);
    if (!slot) throw new Error(`fused graph: ${v.name} is not one of the model's parameters`);
    return slot.node;
  }

  /** A new value [rows, cols], with a gradient when training. */
  value(rows: number, cols: number): GraphNode {
    const at = this.alloc(rows * cols);
    const grad = this.training ? this.alloc(rows * cols) : -1;
    return { id: this.nextId++, rows, cols, at, grad };
  }

  /** Scratch space of `count` floats for an op's own use. */
  scratch(count: number): number {
    return this.alloc(count);
  }

  /** Records an op. */
  push(op: GraphOp): void {
    this.ops.push(op);
  }

  /** The parameters in layout order, with their nodes. */
  parameters(): readonly ParamSlot[] {
    return this.slots;
  }

  /** Nodes made so far (ids are below this). */
  get nodeCount(): number {
    return this.nextId;
  }
}

/** A model's graph laid out: the recorded ops and the buffers around them. */
interface GraphLayout {
  g: GraphBuilder;
  logits: GraphNode;
  /** where the loss writes the logits' gradient (scratch in an evaluation graph) */
  dLogits: number;
  /** room for AdamW's moments, in the parameters' layout (training only) */
  moments: { m: number; v: number } | null;
}

/**
 * Records `model`'s graph for `batch` lines with `alloc`, and lays out the
 * loss's and the optimizer's buffers after it: everything at once, since
 * growing the memory later would detach the views handed out (the batch's).
 */
function layOutGraph(
  model: GraphModel,
  batch: number,
  alloc: (count: number) => number,
  training: boolean,
): GraphLayout {
  const g = new GraphBuilder(batch, model.blockSize, alloc, model.parameters(), training);
  const logits = model.fusedGraph(g);
  if (logits.rows !== batch * model.blockSize || logits.cols !== model.vocabSize) {
    throw new Error(`fused graph gives logits [${logits.rows}, ${logits.cols}]`);
  }
  const dLogits = training ? logits.grad : alloc(logits.rows * logits.cols);
  const { count } = g.paramArea;
  const moments = training ? { m: alloc(count), v: alloc(count) } : null;
  return { g, logits, dLogits, moments };
}

/**
 * Bytes of kernel memory a graph of `model` takes for `batch` lines
 * (training: with gradients and room for AdamW's moments), to decide before allocating.
 */
export function graphBytes(model: GraphModel, batch: number, training = true): number {
  let end = 0;
  const alloc = (count: number): number => {
    const at = end;
    end = bufferEnd(at, count);
    return at;
  };
  layOutGraph(model, batch, alloc, training);
  return end;
}

/** Why a model cannot run as a fused graph right now, or null when it can. */
export function graphUnavailable(model: object): string | null {
  if (!isGraphModel(model)) return "the model has no fused form";
  if (!kernelsAvailable()) return kernelsUnavailableReason() ?? "the fused kernels are not available";
  return null;
}

/** Gradient bookkeeping of one backward pass. */
class Written implements Backward {
  private readonly flags: Uint8Array;

  constructor(nodes: number) {
    this.flags = new Uint8Array(nodes);
  }

  reset(): void {
    this.flags.fill(0);
  }

  acc(node: GraphNode): 0 | 1 {
    const was = this.flags[node.id] as number;
    this.flags[node.id] = 1;
    return was ? 1 : 0;
  }
}

/** A model's graph laid out in its own kernel memory for one batch size. */
export class GraphNet {
  readonly batch: number;
  readonly time: number;
  readonly vocabSize: number;
  private readonly mem: KernelMemory;
  private readonly g: GraphBuilder;
  private readonly logits: GraphNode;
  /** where the loss writes the logits' gradient (scratch in an evaluation graph) */
  private readonly dLogits: number;
  private readonly written: Written;
  /** room for AdamW's moments beside the parameters (byte offsets; training graphs) */
  private readonly moments: { m: number; v: number } | null;

  /** @throws Error when the kernels are not available. */
  constructor(model: GraphModel, batch: number, training = true) {
    this.mem = new KernelMemory();
    this.batch = batch;
    this.time = model.blockSize;
    this.vocabSize = model.vocabSize;
    const layout = layOutGraph(model, batch, (n) => this.mem.alloc(n), training);
    this.g = layout.g;
    this.logits = layout.logits;
    this.dLogits = layout.dLogits;
    this.moments = layout.moments;
    this.written = new Written(this.g.nodeCount);
  }

  /** Bytes of kernel memory in use. */
  get bytes(): number {
    return this.mem.bytes;
  }

  /** The int32 views of the next batch: tokens and targets, [batch · time] each. */
  batchViews(): { X: Int32Array; Y: Int32Array } {
    const n = this.batch * this.time;
    return { X: this.mem.i32(this.g.tokens, n), Y: this.mem.i32(this.g.targets, n) };
  }

  /** The logits of the last forward pass, [batch · time, vocab] flat (a view into kernel memory). */
  logitsView(): Float32Array {
    return this.mem.f32(this.logits.at, this.logits.rows * this.logits.cols);
  }

  /** Copies the parameters from their tfjs variables. */
  load(): void {
    for (const { v, node } of this.g.parameters()) this.mem.f32(node.at, v.size).set(v.dataSync() as Float32Array);
  }

  /** Writes the parameters back into their tfjs variables. */
  store(): void {
    tf.tidy(() => {
      for (const { v, node } of this.g.parameters()) {
        v.assign(tf.tensor(this.mem.f32(node.at, v.size).slice(), v.shape, "float32"));
      }
    });
  }

  /** Views of the parameters, in the model's order, for the optimizer. */
  paramViews(): Float32Array[] {
    return this.g.parameters().map(({ v, node }) => this.mem.f32(node.at, v.size));
  }

  /**
   * Has `adamw` keep its two moments in this graph's memory, beside the
   * parameters and in their layout (laid out with the graph); {@link GraphNet.adamwStep}
   * then updates every parameter in one kernel call.
   */
  keepAdamW(adamw: AdamW): void {
    if (!this.moments) throw new Error("an evaluation graph has no optimizer state");
    const { m, v } = this.moments;
    const views = (area: number): Float32Array[] =>
      this.g.parameters().map(({ v: p, node }) => this.mem.f32(area + node.at - this.g.paramArea.at, p.size));
    adamw.keepMomentsIn(views(m), views(v));
  }

  /** One AdamW update of every parameter from the last gradients, with the moments laid out by {@link GraphNet.keepAdamW}. */
  adamwStep(adamw: AdamW, lr: number): void {
    if (!this.moments) throw new Error("fused graph: AdamW's moments are not laid out (keepAdamW)");
    const c = adamw.beginStep(this.paramViews(), this.gradViews(), lr);
    const { at, grad, count } = this.g.paramArea;
    const { m, v } = this.moments;
    this.mem.k.adamwUpdate(
      count,
      at,
      grad,
      m,
      v,
      c.decay,
      c.beta1,
      c.keep1,
      c.beta2,
      c.keep2,
      c.stepSize,
      c.bc2Sqrt,
      c.eps,
    );
  }

  /** The gradients of the last {@link GraphNet.forwardBackward} as new tfjs tensors (the caller disposes them). */
  gradients(): Map<tfjs.Variable, tfjs.Tensor> {
    const views = this.gradViews();
    return new Map(this.g.parameters().map(({ v }, i) => [v, tf.tensor(views[i]!.slice(), v.shape, "float32")]));
  }

  /** Views of the gradients of the last {@link GraphNet.forwardBackward}, in the same order. */
  gradViews(): Float32Array[] {
    return this.g.parameters().map(({ v, node }) => this.mem.f32(node.grad, v.size));
  }

  /** The ops in order (for profiles). */
  get ops(): readonly GraphOp[] {
    return this.g.ops;
  }

  /** The forward pass and the summed loss of the counted targets; writes the logits' gradient scaled by `scale`. */
  forwardLoss(scale: number): number {
    const k = this.mem.k;
    for (const op of this.g.ops) op.forward(k);
    const { rows, cols, at } = this.logits;
    return k.seqCrossEntropy(rows, cols, at, this.g.targets, this.dLogits, scale);
  }

  /**
   * Forward, mean loss over the batch's counted targets and every parameter's
   * gradient. Parameters are not changed. A batch with no target gives 0.
   */
  forwardBackward(): number {
    const count = countTargets(this.batchViews().Y);
    const total = this.forwardLoss(count > 0 ? 1 / count : 0);
    this.backward();
    return count > 0 ? total / count : 0;
  }

  /** The ops' backward passes in reverse, from the logits' gradient. */
  backward(): void {
    const k = this.mem.k;
    this.written.reset();
    this.written.acc(this.logits);
    for (let i = this.g.ops.length - 1; i >= 0; i--) this.g.ops[i]?.backward?.(k, this.written);
    // parameters no op reached (none in makemore.py's models) keep a zero gradient
    for (const { v, node } of this.g.parameters()) {
      if (this.written.acc(node) === 0) this.mem.f32(node.grad, v.size).fill(0);
    }
  }

  /**
   * Runs `steps` forward and backward passes on the current batch, timing each
   * op, and returns the mean microseconds per step of each kind of stage
   * ("forward linear", "loss", "backward attention", ...), largest first.
   * `clock` gives milliseconds: wall time by default, or e.g. the process's
   * CPU time on a loaded machine.
   */
  profile(steps = 100, clock: () => number = () => performance.now()): { stage: string; us: number }[] {
    const k = this.mem.k;
    const total = new Map<string, number>();
    let t = clock();
    const lap = (stage: string): void => {
      const now = clock();
      total.set(stage, (total.get(stage) ?? 0) + now - t);
      t = now;
    };
    const count = Math.max(1, countTargets(this.batchViews().Y));
    for (let s = 0; s < steps; s++) {
      t = clock();
      for (const op of this.g.ops) {
        op.forward(k);
        lap(`forward ${op.name}`);
      }
      const { rows, cols, at } = this.logits;
      k.seqCrossEntropy(rows, cols, at, this.g.targets, this.dLogits, 1 / count);
      lap("loss");
      this.written.reset();
      this.written.acc(this.logits);
      for (let i = this.g.ops.length - 1; i >= 0; i--) {
        const op = this.g.ops[i] as GraphOp;
        op.backward?.(k, this.written);
        lap(`backward ${op.name}`);
      }
    }
    return [...total].map(([stage, ms]) => ({ stage, us: (ms * 1000) / steps })).sort((a, b) => b.us - a.us);
  }

  /** Summed loss and number of counted targets of the batch in evaluation (no gradients needed). */
  evalTotals(): { total: number; count: number } {
    const count = countTargets(this.batchViews().Y);
    return { total: this.forwardLoss(0), count };
  }
}

/** Targets that are not padding (-1). */
export function countTargets(Y: Int32Array): number {
  let n = 0;
  for (let i = 0; i < Y.length; i++) if ((Y[i] as number) >= 0) n++;
  return n;
}
