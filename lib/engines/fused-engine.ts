/**
 * The fused engine: whole training steps of a {@link FusedSpec} in the SIMD
 * kernels (lib/engines/fused.ts). The model's tfjs variables are copied in
 * once, trained in kernel memory, and written back by {@link Engine.sync}.
 *
 * @module
 */
import type { Examples } from "../data/examples";
import { isSequences } from "../data/examples";
import type { Model } from "../models/model";
import type { Optimizer } from "../training/optimizers";
import { FusedNet, fusedBytes, fusedSpecOf, type FusedSpec } from "./fused";
import { KernelEngine } from "./kernel-engine";

/** The most kernel memory a fused network may take (1 GiB); larger batches run on tfjs. */
export const FUSED_MAX_BYTES = 2 ** 30;

/**
 * The fused spec of a model when it can run fused with this batch (a number,
 * or "full": all `examples`), or the
 * reason it cannot: no fused form (or not right now), a regularization term
 * its spec does not describe (training only), a batch under 2, more than
 * {@link FUSED_MAX_BYTES} of kernel memory, or kernels not built.
 */
export function fusedPlan(model: Model, batchSize: number | "full", examples = 0, training = true): FusedSpec | string {
  const spec = fusedSpecOf(model);
  if (typeof spec === "string") return spec;
  if (training && model.regularization && !(spec.l2 && spec.l2.length > 0)) {
    return "the model adds a regularization term that its fused form does not describe";
  }
  const batch = batchSize === "full" ? examples : batchSize;
  if (batch < 2) return "fused steps need a batch of at least 2";
  const bytes = fusedBytes(spec, batch);
  if (bytes > FUSED_MAX_BYTES) {
    return `a batch of ${batch} examples needs ${Math.ceil(bytes / 2 ** 20)} MB of kernel memory (limit ${FUSED_MAX_BYTES / 2 ** 20} MB)`;
  }
  return spec;
}

/** An {@link Engine} over a {@link FusedNet}. */
export class FusedEngine extends KernelEngine<FusedNet> {
  constructor(
    private readonly spec: FusedSpec,
    batchSize: number,
    optimizer: Optimizer,
  ) {
    const net = new FusedNet(spec, batchSize);
    net.load();
    super(net, optimizer);
  }

  protected update(lr: number): void {
    // plain SGD is one kernel call; other optimizers update the same memory from JS
    if (this.optimizer.kind === "sgd" && this.optimizer.weightDecay === 0) this.net.update(lr);
    else this.optimizer.update(this.net.paramViews(), this.net.gradViews(), lr);
  }

  protected evalChunk(data: Examples, chunkSize = 2048): number {
    return evalChunk(chunkSize, data.n);
  }

  protected evalNet(size: number): FusedNet {
    return new FusedNet(this.spec, size);
  }

  protected evaluateOn(net: FusedNet, data: Examples): number {
    return evaluateOn(net, data);
  }
}

/** Mean loss over the examples with a fused network built for chunks of `chunkSize`. */
export function fusedEvaluate(spec: FusedSpec, data: Examples, chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  return evaluateOn(new FusedNet(spec, evalChunk(chunkSize, data.n)), data);
}

/** Rows per evaluation chunk: at most `chunkSize`, at most the split, at least 2 (batch norm's minimum). */
function evalChunk(chunkSize: number, n: number): number {
  return Math.max(2, Math.min(chunkSize, n));
}

/** Loads the variables into `net` and runs the examples through it in chunks of its batch size. */
function evaluateOn(net: FusedNet, data: Examples): number {
  if (isSequences(data)) throw new RangeError("the fused engine evaluates context windows, not sequences");
  const { n, blockSize } = data;
  net.load();
  const { X, Y } = net.batchViews();
  let total = 0;
  for (let start = 0; start < n; start += net.batchSize) {
    const rows = Math.min(net.batchSize, n - start);
    X.set(data.X.subarray(start * blockSize, (start + rows) * blockSize));
    Y.set(data.Y.subarray(start, start + rows));
    total += net.evalLoss(rows) * rows;
  }
  return total / n;
}
