/**
 * The fused engine: whole training steps of a model's graph (graph-net.ts)
 * in the SIMD kernels. The model's variables are copied in at the start; the
 * engine then owns the state, in kernel memory, and hands it to the
 * variables only where someone reads them (hooks, callbacks) and at the end.
 *
 * @module
 */
import { isSequences, type Batch, type Examples } from "../data/examples";
import { IGNORE_INDEX } from "../data/sequences";
import { isOpsModel, type Model } from "../models/model";
import { AdamW, type Optimizer } from "../optim/optimizers";
import { evalChunk } from "./chunks";
import type { Engine, EngineState, GradMap } from "./engine";
import { graphBytes, GraphNet, type GraphModel } from "./graph-net";
import { checkThreads, KernelPool } from "./kernel-pool";
import { ThreadChoice } from "./thread-choice";
import { kernelsAvailable, kernelsUnavailableReason } from "./kernels";

/** The most kernel memory a graph may take: 3.5 GiB of WebAssembly's 4 GiB address space. */
export const FUSED_MAX_BYTES = 3.5 * 2 ** 30;

/**
 * The model as a graph model when it can train (or evaluate) fused with
 * `batch` examples, else why not: no forward pass over ops, kernels not
 * built, the model's own reason (it keeps activations), a regularization
 * term without L2 terms (training), a batch under 2 context windows or 1
 * line, or more than {@link FUSED_MAX_BYTES} of kernel memory.
 */
export function fusedPlan(model: Model, batch: number, training = true): GraphModel | string {
  if (!isOpsModel(model)) return "the model has no fused form";
  if (!kernelsAvailable()) return kernelsUnavailableReason() ?? "the fused kernels are not available";
  const why = model.fusedUnavailable?.() ?? null;
  if (why !== null) return why;
  if (training && model.regularization && !model.l2Terms) {
    return "the model adds a regularization term that its fused form does not describe";
  }
  const lines = model.examples === "sequence";
  if (!Number.isInteger(batch) || batch < (lines ? 1 : 2)) {
    return lines
      ? `fused steps need a batch of at least 1 line, got ${batch}`
      : "fused steps need a batch of at least 2";
  }
  const bytes = graphBytes(model, batch, training);
  if (bytes > FUSED_MAX_BYTES) {
    return `a batch of ${batch} ${lines ? "lines" : "examples"} needs ${Math.ceil(bytes / 2 ** 20)} MB of kernel memory (limit ${FUSED_MAX_BYTES / 2 ** 20} MB)`; // prettier-ignore
  }
  return model;
}

/**
 * An {@link Engine} over a {@link GraphNet}, its kernel calls split over `threads` threads
 * (with `chooseThreads`: or on this one alone, when timed steps run faster so; thread-choice.ts).
 */
export class FusedEngine implements Engine {
  readonly name = "fused";
  readonly batch: Batch;
  private readonly net: GraphNet;
  /** the worker threads of the training and evaluation nets (null: one thread) */
  private readonly pool: KernelPool | null;
  /** networks for evaluation, by chunk size (the chunking decides the rounding, so it stays fixed) */
  private readonly evalNets = new Map<number, GraphNet>();
  /** with a pool: whether the steps run faster on it or on this thread alone, timed from this engine's steps 2 and 1,000 */
  private readonly choice: ThreadChoice | null;

  constructor(
    private readonly model: GraphModel,
    batchSize: number,
    private readonly optimizer: Optimizer,
    threads = 1,
    chooseThreads = false,
  ) {
    this.pool = checkThreads(threads) > 1 ? new KernelPool(threads) : null;
    this.choice = this.pool && chooseThreads ? new ThreadChoice() : null;
    try {
      this.net = new GraphNet(model, batchSize, true, this.pool);
    } catch (e) {
      this.pool?.dispose();
      throw e;
    }
    this.net.load();
    // AdamW runs as one kernel call over moments kept beside the parameters
    if (optimizer instanceof AdamW) this.net.keepAdamW(optimizer);
    this.batch = this.net.batchViews();
  }

  step(lr: number, onGrads?: (grads: GradMap) => void): number {
    const loss = this.choice
      ? this.choice.time(this.net, () => this.net.forwardBackward())
      : this.net.forwardBackward();
    if (onGrads) this.withVariables(() => showGradients(this.net, onGrads));
    this.update(lr);
    return loss;
  }

  /** Applies the optimizer to the gradients of the last step: one kernel call for SGD and AdamW. */
  private update(lr: number): void {
    const o = this.optimizer;
    if (o instanceof AdamW) this.net.adamwStep(o, lr);
    else if (o.kind === "sgd" && o.weightDecay === 0) this.net.sgdStep(lr);
    else o.update(this.net.paramViews(), this.net.gradViews(), lr);
  }

  evaluate(data: Examples, chunkSize?: number): number {
    const size = evalChunk(this.model, data.n, "fused", chunkSize);
    const net = this.evalNets.get(size) ?? new GraphNet(this.model, size, false, this.pool);
    this.evalNets.set(size, net);
    net.copyStateFrom(this.net);
    return evaluateOn(net, data);
  }

  /** Threads the steps run on: the pool's, or 1 once timed steps showed this thread alone faster (evaluations run on the pool). */
  get threadsInUse(): number {
    return this.choice?.choice === false ? 1 : (this.pool?.threads ?? 1);
  }

  /** Whether a timing of the steps has chosen yet (false also without a choice to make). */
  get threadsChosen(): boolean {
    return (this.choice?.choice ?? null) !== null;
  }

  withVariables<T>(fn: () => T): T {
    this.net.store();
    try {
      return fn();
    } finally {
      this.net.load();
    }
  }

  snapshot(): EngineState {
    return this.net.stateViews().map((v) => v.slice());
  }

  restore(state: EngineState): void {
    this.net.stateViews().forEach((v, i) => v.set(state[i] as Float32Array));
  }

  dispose(): void {
    this.net.store();
    this.evalNets.clear();
    this.pool?.dispose();
  }
}

/** The hook sees the gradients as tfjs tensors, disposed after it. */
function showGradients(net: GraphNet, onGrads: (grads: GradMap) => void): void {
  const grads = net.gradients();
  try {
    onGrads(grads);
  } finally {
    grads.forEach((g) => g.dispose());
  }
}

/** Mean loss of the model's variables over `data`, through a fused evaluation net of chunks of `chunkSize`, on `threads` threads. */
export function fusedEvaluate(model: GraphModel, data: Examples, chunkSize?: number, threads = 1): number {
  const pool = checkThreads(threads) > 1 ? new KernelPool(threads) : null;
  try {
    const net = new GraphNet(model, evalChunk(model, data.n, "fused", chunkSize), false, pool);
    net.load();
    return evaluateOn(net, data);
  } finally {
    pool?.dispose();
  }
}

/**
 * Runs every example of `data` through `net` in chunks of its batch. A last,
 * shorter chunk fills the rest of the batch with token 0 (and, for lines,
 * ignored targets): examples do not interact in evaluation, so they count for nothing.
 */
function evaluateOn(net: GraphNet, data: Examples): number {
  const kind = isSequences(data) ? "sequence" : "context";
  if (kind !== net.kind) throw new RangeError(`the model reads ${net.kind} examples, not ${kind} examples`);
  const { n, blockSize: T } = data;
  if (T !== net.time) throw new RangeError(`examples of ${T} tokens for a model of ${net.time}`);
  const w = kind === "sequence" ? T : 1; // targets per example
  const { X, Y } = net.batchViews();
  let [total, count] = [0, 0];
  for (let start = 0; start < n; start += net.batch) {
    const rows = Math.min(net.batch, n - start);
    X.set(data.X.subarray(start * T, (start + rows) * T));
    Y.set(data.Y.subarray(start * w, (start + rows) * w));
    X.fill(0, rows * T);
    Y.fill(IGNORE_INDEX, rows * w);
    const t = net.evalTotals(rows);
    [total, count] = [total + t.total, count + t.count];
  }
  if (count === 0) throw new RangeError("the lines hold no target to evaluate");
  return total / count;
}
