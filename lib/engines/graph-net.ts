/**
 * A model's fused graph laid out in its own kernel memory for one batch
 * size: the parameters and their gradients, the running statistics, the
 * recorded ops' buffers, the loss, AdamW's moments. It runs the steps the
 * fused engine (fused-engine.ts) drives: the ops forward, the loss (the mean
 * cross-entropy of one target per example for context windows, the masked
 * one of every position for lines), the ops' backward passes in reverse, the
 * L2 terms, and the update.
 *
 * @module
 */
import type { Batch, ExampleKind } from "../data/examples";
import type { Model, OpsModel } from "../models/model";
import type { AdamW } from "../optim/optimizers";
import { tf } from "../runtime/tf";
import type { GradMap } from "./engine";
import { gradOf, type Backward, type GraphNode, type GraphOp, type Slot } from "./graph";
import { GraphRecorder } from "./graph-recorder";
import { block, KernelCalls, mat, type Mat } from "./kernel-calls";
import type { KernelPool } from "./kernel-pool";
import { bufferEnd, KernelMemory } from "./kernels";

/** What a fused graph is made from: a model's sizes, its parameters and its forward pass over ops. */
export type GraphModel = Pick<Model, "blockSize" | "vocabSize" | "examples" | "parameters"> & OpsModel;

/** A model's graph laid out: the recorder with its ops, and the buffers around them. */
interface GraphLayout {
  g: GraphRecorder;
  logits: GraphNode;
  /** int32 targets: one per example, or one per position of a line (-1: none) */
  targets: Mat;
  /** where the loss writes the logits' gradient (scratch in an evaluation graph) */
  dLogits: Mat;
  /** each row's loss (the sequence models' loss sums them) */
  losses: Mat;
  /** room for AdamW's moments, in the parameters' layout (training only) */
  moments: { m: Mat; v: Mat } | null;
  /** the L2 terms of the training loss on their parameters' nodes */
  penalties: { node: GraphNode; coefficient: number }[];
}

/**
 * Records `model`'s graph for `batch` examples with `alloc`, and lays out the
 * loss's and the optimizer's buffers with it: everything at once, since
 * growing the memory later would detach the views handed out (the batch's).
 */
function layOutGraph(
  model: GraphModel,
  batch: number,
  alloc: (n: number) => number,
  training: boolean,
  threads: number,
): GraphLayout {
  const T = model.blockSize;
  const g = new GraphRecorder(batch, T, alloc, model.parameters(), training, threads);
  const rows = model.examples === "sequence" ? batch * T : batch; // one target per row of the logits
  const targets = mat(alloc(rows), rows, 1);
  const logits = model.logits(g);
  if (logits.rows !== rows || logits.cols !== model.vocabSize) {
    throw new Error(`fused graph gives logits [${logits.rows}, ${logits.cols}] for [${rows}, ${model.vocabSize}]`);
  }
  const dLogits = training ? gradOf(logits) : g.scratch(rows, model.vocabSize);
  const losses = g.scratch(rows, 1);
  const area = g.paramArea.values;
  const moments = training ? { m: g.scratch(1, area.cols), v: g.scratch(1, area.cols) } : null;
  const terms = training ? (model.l2Terms?.() ?? []) : [];
  const penalties = terms.map((t) => ({ node: g.param(t.param), coefficient: t.coefficient }));
  return { g, logits, targets, dLogits, losses, moments, penalties };
}

/**
 * Bytes of kernel memory a graph of `model` takes for `batch` examples
 * (training: with gradients and room for AdamW's moments), to decide before
 * allocating: the layout itself, counted without memory (on `threads` threads: a few scratch buffers each).
 */
export function graphBytes(model: GraphModel, batch: number, training = true, threads = 1): number {
  let end = 0;
  const alloc = (count: number): number => {
    const at = end;
    end = bufferEnd(at, count);
    return at;
  };
  layOutGraph(model, batch, alloc, training, threads);
  return end;
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
  /** examples per step */
  readonly batch: number;
  /** tokens per example */
  readonly time: number;
  /** what the loss reads: one target per example, or one per position */
  readonly kind: ExampleKind;
  private readonly mem = new KernelMemory();
  /** the kernels of this net's memory, by name */
  private readonly kc: KernelCalls;
  private readonly l: GraphLayout;
  private readonly written: Written;

  /**
   * @param pool - worker threads the kernel calls are split over (none: this thread)
   * @throws Error when the kernels are not available or the graph does not fit together.
   */
  constructor(model: GraphModel, batch: number, training = true, pool: KernelPool | null = null) {
    this.kc = new KernelCalls(this.mem.k, pool && pool.threads > 1 ? pool.attach(this.mem, this.mem.k) : null);
    this.batch = batch;
    this.time = model.blockSize;
    this.kind = model.examples === "sequence" ? "sequence" : "context";
    this.l = layOutGraph(model, batch, (n) => this.mem.alloc(n), training, this.kc.threads);
    this.written = new Written(this.l.g.nodeCount);
  }

  /** Whether the kernel calls are split over the pool's threads (false: all on this thread; the same bits either way). */
  get threaded(): boolean {
    return this.kc.threaded;
  }

  set threaded(on: boolean) {
    this.kc.threaded = on;
  }

  /** Bytes of kernel memory in use. */
  get bytes(): number {
    return this.mem.bytes;
  }

  /** The int32 views of the next batch: tokens [batch · time] and targets [batch] or [batch · time]. */
  batchViews(): Batch {
    const { tokens } = this.l.g;
    return {
      X: this.mem.i32(tokens.at, this.batch * this.time),
      Y: this.mem.i32(this.l.targets.at, this.l.targets.rows),
    };
  }

  /** The logits of the last forward pass, [rows, vocab] flat (a view into kernel memory). */
  logitsView(): Float32Array {
    return this.view(this.l.logits);
  }

  /** Copies the parameters and running statistics from their tfjs variables. */
  load(): void {
    for (const { v, node } of this.slots()) this.view(node).set(v.dataSync() as Float32Array);
  }

  /** Writes the parameters and running statistics into their tfjs variables. */
  store(): void {
    tf.tidy(() => {
      for (const { v, node } of this.slots()) v.assign(tf.tensor(this.view(node).slice(), v.shape, "float32"));
    });
  }

  /** Views of the parameters then the running statistics (what a snapshot copies), in layout order. */
  stateViews(): Float32Array[] {
    return this.slots().map(({ node }) => this.view(node));
  }

  /** Takes the parameters and running statistics of another net of the same model (an evaluation net from the training one). */
  copyStateFrom(other: GraphNet): void {
    const from = other.stateViews();
    this.stateViews().forEach((v, i) => v.set(from[i] as Float32Array));
  }

  /** Views of the parameters, in the model's order, for the optimizer. */
  paramViews(): Float32Array[] {
    return this.l.g.parameters().map(({ node }) => this.view(node));
  }

  /** Views of the gradients of the last {@link GraphNet.forwardBackward}, in the same order. */
  gradViews(): Float32Array[] {
    return this.l.g.parameters().map(({ node }) => this.mem.f32(node.grad, node.rows * node.cols));
  }

  /** The gradients of the last {@link GraphNet.forwardBackward} as new tfjs tensors (the caller disposes them). */
  gradients(): GradMap {
    const views = this.gradViews();
    return new Map(this.l.g.parameters().map(({ v }, i) => [v, tf.tensor(views[i]!.slice(), v.shape, "float32")]));
  }

  /** p -= lr · grad for every parameter, in one kernel call. */
  sgdStep(lr: number): void {
    const { values, grad } = this.l.g.paramArea;
    this.kc.sgdUpdate(values, mat(grad, 1, values.cols), lr);
  }

  /**
   * Has `adamw` keep its two moments in this graph's memory, beside the
   * parameters and in their layout; {@link GraphNet.adamwStep} then updates
   * every parameter in one kernel call, with the bits of `AdamW.update`.
   */
  keepAdamW(adamw: AdamW): void {
    if (!this.l.moments) throw new Error("an evaluation graph has no optimizer state");
    const area = this.l.g.paramArea.values.at;
    const views = (m: Mat): Float32Array[] =>
      this.l.g.parameters().map(({ node }) => this.mem.f32(m.at + node.at - area, node.rows * node.cols));
    adamw.keepMomentsIn(views(this.l.moments.m), views(this.l.moments.v));
  }

  /** One AdamW update of every parameter from the last gradients (moments laid out by {@link GraphNet.keepAdamW}). */
  adamwStep(adamw: AdamW, lr: number): void {
    if (!this.l.moments) throw new Error("fused graph: AdamW's moments are not laid out (keepAdamW)");
    const c = adamw.beginStep(this.paramViews(), this.gradViews(), lr);
    const { values, grad } = this.l.g.paramArea;
    this.kc.adamwUpdate(values, mat(grad, 1, values.cols), this.l.moments.m, this.l.moments.v, c);
  }

  /** The ops in order (for profiles). */
  get ops(): readonly GraphOp[] {
    return this.l.g.ops;
  }

  /**
   * Forward, mean loss over the batch's targets (plus the L2 terms) and every
   * parameter's gradient. Parameters are not changed. A batch of lines with
   * no target gives 0.
   */
  forwardBackward(): number {
    const { total, count } = this.forwardLoss(this.batch, true);
    this.backward();
    return (count > 0 ? total / count : 0) + this.penalty();
  }

  /**
   * Summed loss and number of targets of the first `rows` examples (a context
   * graph; a graph of lines counts its targets, -1 for none), in an
   * evaluation graph (batch norm on the running statistics).
   */
  evalTotals(rows = this.batch): { total: number; count: number } {
    if (this.l.g.training) throw new Error("a training graph does not evaluate: lay one out with training false");
    if (!Number.isInteger(rows) || rows < 1 || rows > this.batch) {
      throw new RangeError(`rows must be an integer from 1 to ${this.batch}, got ${rows}`);
    }
    return this.forwardLoss(rows, false);
  }

  /**
   * Runs `steps` forward and backward passes on the current batch, timing each
   * op, and returns the mean microseconds per step of each kind of stage
   * ("forward linear", "loss", "backward attention", ...), largest first.
   * `clock` gives milliseconds: wall time by default, or e.g. the process's
   * CPU time on a loaded machine.
   */
  profile(steps = 100, clock: () => number = () => performance.now()): { stage: string; us: number }[] {
    const k = this.kc;
    const total = new Map<string, number>();
    let t = clock();
    const lap = (stage: string): void => {
      const now = clock();
      total.set(stage, (total.get(stage) ?? 0) + now - t);
      t = now;
    };
    for (let s = 0; s < steps; s++) {
      t = clock();
      for (const op of this.l.g.ops) {
        op.forward(k);
        lap(`forward ${op.name}`);
      }
      this.loss(this.batch, true);
      lap("loss");
      this.eachBackward((op) => lap(`backward ${op.name}`));
    }
    return [...total].map(([stage, ms]) => ({ stage, us: (ms * 1000) / steps })).sort((a, b) => b.us - a.us);
  }

  /** The forward pass and the loss of the first `rows` examples; `scaled`: the logits' gradient is the mean's. */
  private forwardLoss(rows: number, scaled: boolean): { total: number; count: number } {
    return this.kc.chaining(() => {
      for (const op of this.l.g.ops) op.forward(this.kc);
      return this.loss(rows, scaled);
    });
  }

  /** Summed loss and targets counted; writes the logits' gradient (of the mean when `scaled`, else scratch). */
  private loss(rows: number, scaled: boolean): { total: number; count: number } {
    const { logits, targets, dLogits, losses } = this.l;
    const k = this.kc;
    if (this.kind === "context") {
      const mean = k.crossEntropy(dLogits, block(logits, 0, 0, rows, logits.cols), targets);
      return { total: mean * rows, count: rows };
    }
    const count = countTargets(this.batchViews().Y);
    return { total: k.seqCrossEntropy(dLogits, logits, targets, scaled && count > 0 ? 1 / count : 0, losses), count };
  }

  /** The ops' backward passes in reverse, from the logits' gradient. */
  private backward(): void {
    this.kc.chaining(() => this.eachBackward(() => undefined));
    // parameters no op reached keep a zero gradient
    for (const { node } of this.l.g.parameters()) {
      if (this.written.acc(node) === 0) this.mem.f32(node.grad, node.rows * node.cols).fill(0);
    }
  }

  private eachBackward(after: (op: GraphOp) => void): void {
    const ops = this.l.g.ops;
    this.written.reset();
    this.written.acc(this.l.logits);
    for (let i = ops.length - 1; i >= 0; i--) {
      ops[i]?.backward?.(this.kc, this.written);
      after(ops[i] as GraphOp);
    }
  }

  /** Adds the L2 terms' gradients to those of the backward pass; returns their value. */
  private penalty(): number {
    let total = 0;
    for (const { node, coefficient } of this.l.penalties) {
      total += this.kc.l2Penalty(gradOf(node), node, coefficient);
    }
    return total;
  }

  private slots(): Slot[] {
    return [...this.l.g.parameters(), ...this.l.g.stateSlots()];
  }

  private view(node: Mat): Float32Array {
    return this.mem.f32(node.at, node.rows * node.cols);
  }
}

/** Targets that are not padding (-1). */
export function countTargets(Y: Int32Array): number {
  let n = 0;
  for (let i = 0; i < Y.length; i++) if ((Y[i] as number) >= 0) n++;
  return n;
}
