/**
 * The fused engine for makemore.py's sequence models: whole training steps
 * of a {@link GraphModel}'s graph in the SIMD kernels, and evaluation of a
 * split in chunks of lines. Like the lecture models' fused engine, the
 * variables are copied in once, trained in kernel memory, and written back
 * by {@link Engine.sync}.
 *
 * @module
 */
import type { Examples } from "../data/examples";
import { isSequences } from "../data/examples";
import { IGNORE_INDEX } from "../data/sequences";
import type { Model } from "../models/model";
import { AdamW, type Optimizer } from "../training/optimizers";
import { graphBytes, GraphNet, graphUnavailable, isGraphModel, type GraphModel } from "./graph";
import { KernelEngine } from "./kernel-engine";

/**
 * The most kernel memory a graph may take: 3.5 GiB of WebAssembly's 4 GiB
 * address space (a transformer at block 506 and batch 32 needs about 1.2 GiB).
 */
export const GRAPH_MAX_BYTES = 3.5 * 2 ** 30;

/** Tokens an evaluation chunk holds: lines of 16 positions go 1,024 at a time, lines of 506 go 32. */
const EVAL_TOKENS = 16384;

/** The model as a graph model when it can train (or evaluate) fused with `batch` lines, else why not. */
export function graphPlan(model: Model, batch: number, training = true): GraphModel | string {
  const why = graphUnavailable(model);
  if (why !== null || !isGraphModel(model)) return why ?? "the model has no fused form";
  if (training && model.regularization)
    return "the model adds a regularization term that its fused form does not describe";
  if (!Number.isInteger(batch) || batch < 1) return `fused steps need a batch of at least 1 line, got ${batch}`;
  const bytes = graphBytes(model, batch, training);
  if (bytes > GRAPH_MAX_BYTES) {
    return `a batch of ${batch} lines needs ${Math.ceil(bytes / 2 ** 20)} MB of kernel memory (limit ${GRAPH_MAX_BYTES / 2 ** 20} MB)`;
  }
  return model;
}

/** An {@link Engine} over a {@link GraphNet}. */
export class GraphEngine extends KernelEngine<GraphNet> {
  constructor(
    private readonly model: GraphModel,
    batchSize: number,
    optimizer: Optimizer,
  ) {
    const net = new GraphNet(model, batchSize);
    net.load();
    // AdamW runs as one kernel call over moments kept beside the parameters
    if (optimizer instanceof AdamW) net.keepAdamW(optimizer);
    super(net, optimizer);
  }

  protected update(lr: number): void {
    if (this.optimizer instanceof AdamW) this.net.adamwStep(this.optimizer, lr);
    else this.optimizer.update(this.net.paramViews(), this.net.gradViews(), lr);
  }

  protected evalChunk(data: Examples, chunkSize?: number): number {
    return evalLines(this.model, data, chunkSize);
  }

  protected evalNet(size: number): GraphNet {
    return new GraphNet(this.model, size, false);
  }

  protected evaluateOn(net: GraphNet, data: Examples): number {
    return evaluateOn(net, data);
  }
}

/** Mean loss per counted target over every line of `data`, in fused chunks. */
export function graphEvaluate(model: GraphModel, data: Examples, chunkSize?: number): number {
  return evaluateOn(new GraphNet(model, evalLines(model, data, chunkSize), false), data);
}

/** Lines per evaluation chunk: `chunkSize` if given, else about {@link EVAL_TOKENS} tokens; at most the split. */
export function evalLines(model: Pick<Model, "blockSize">, data: Pick<Examples, "n">, chunkSize?: number): number {
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const lines = chunkSize ?? Math.max(1, Math.floor(EVAL_TOKENS / model.blockSize));
  return Math.max(1, Math.min(lines, data.n));
}

/**
 * Loads the variables into `net` and runs every line through it. A last,
 * shorter chunk fills the rest of the batch with ignored targets: lines do
 * not interact (no batch statistics in these models), so they count for nothing.
 */
function evaluateOn(net: GraphNet, data: Examples): number {
  if (!isSequences(data)) throw new RangeError("the fused graph engine evaluates sequences, not context windows");
  const { n, blockSize } = data;
  if (blockSize !== net.time) throw new RangeError(`lines of ${blockSize} positions for a model of ${net.time}`);
  net.load();
  const { X, Y } = net.batchViews();
  let total = 0;
  let count = 0;
  for (let start = 0; start < n; start += net.batch) {
    const rows = Math.min(net.batch, n - start);
    X.set(data.X.subarray(start * blockSize, (start + rows) * blockSize));
    Y.set(data.Y.subarray(start * blockSize, (start + rows) * blockSize));
    if (rows < net.batch) {
      X.fill(0, rows * blockSize);
      Y.fill(IGNORE_INDEX, rows * blockSize);
    }
    const t = net.evalTotals();
    total += t.total;
    count += t.count;
  }
  if (count === 0) throw new RangeError("the lines hold no target to evaluate");
  return total / count;
}
