/**
 * The tfjs engine: a step is a handful of tfjs ops with automatic
 * differentiation, so it runs any {@link Model}. Step losses stay on the
 * device as scalars; the training loop reads them in batches.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { forEachChunk, isSequences, type Batch, type Examples } from "../data/examples";
import { batchLoss, modelLoss, modelState, type Model } from "../models/model";
import type { Optimizer } from "../optim/optimizers";
import { tf } from "../runtime/tf";
import { evalChunk } from "./chunks";
import type { Engine, EngineState, GradMap } from "./engine";

/** An {@link Engine} of tfjs ops. */
export class TfjsEngine implements Engine {
  readonly name = "tfjs";
  readonly batch: Batch;
  private readonly params: tfjs.Variable[];
  private lrValue = NaN;
  private lrTensor: tfjs.Scalar | null = null;
  /** the batch as tensors, kept across steps when the batch never changes (full-batch training) */
  private fixed: { X: tfjs.Tensor2D; Y: tfjs.Tensor } | null = null;

  constructor(
    private readonly model: Model,
    private readonly batchSize: number,
    private readonly targetWidth: number,
    private readonly optimizer: Optimizer,
    private readonly fixedBatch = false,
  ) {
    this.params = model.parameters();
    this.batch = { X: new Int32Array(batchSize * model.blockSize), Y: new Int32Array(batchSize * targetWidth) };
  }

  step(lr: number, onGrads?: (grads: GradMap) => void): tfjs.Scalar {
    return tf.tidy(() => {
      const { X, Y } = this.batchTensors();
      if (this.optimizer.kind === "sgd" && this.optimizer.weightDecay === 0) {
        return sgdStep(this.model, this.params, X, Y, this.lrScalar(lr), onGrads);
      }
      return this.optimizerStep(X, Y, lr, onGrads);
    });
  }

  /** Gradients by autodiff, then the optimizer's update on the variables' values. */
  private optimizerStep(X: tfjs.Tensor2D, Y: tfjs.Tensor, lr: number, onGrads?: (g: GradMap) => void): tfjs.Scalar {
    const f = (): tfjs.Scalar => batchLoss(this.model, X, Y, true);
    const { value, grads } = tf.engine().gradients(f, [...this.params], undefined, true);
    const map: GradMap = new Map(this.params.map((p, i) => [p, grads[i] ?? tf.zerosLike(p)]));
    onGrads?.(map);
    // a copy: on the cpu backend dataSync hands back the storage that snapshots (clones) share
    const values = this.params.map((p) => (p.dataSync() as Float32Array).slice());
    this.optimizer.update(
      values,
      this.params.map((p) => map.get(p)?.dataSync() as Float32Array),
      lr,
    );
    this.params.forEach((p, i) => p.assign(tf.tensor(values[i] as Float32Array, p.shape, "float32")));
    return value;
  }

  private batchTensors(): { X: tfjs.Tensor2D; Y: tfjs.Tensor } {
    if (this.fixed) return this.fixed;
    const tensors = this.makeBatchTensors();
    if (this.fixedBatch) this.fixed = { X: tf.keep(tensors.X), Y: tf.keep(tensors.Y) };
    return tensors;
  }

  private makeBatchTensors(): { X: tfjs.Tensor2D; Y: tfjs.Tensor } {
    const B = this.batchSize;
    const X = tf.tensor2d(this.batch.X, [B, this.model.blockSize], "int32");
    const Y =
      this.targetWidth > 1 || this.model.examples === "sequence"
        ? tf.tensor2d(this.batch.Y, [B, this.targetWidth], "int32")
        : tf.tensor1d(this.batch.Y, "int32");
    return { X, Y };
  }

  /** The learning rate as a scalar kept across steps while it does not change. */
  private lrScalar(lr: number): tfjs.Scalar {
    if (lr !== this.lrValue || !this.lrTensor) {
      this.lrTensor?.dispose();
      this.lrTensor = tf.keep(tf.scalar(lr));
      this.lrValue = lr;
    }
    return this.lrTensor;
  }

  evaluate(data: Examples, chunkSize?: number): number {
    return tfjsEvaluate(this.model, data, evalChunk(this.model, data.n, "tfjs", chunkSize));
  }

  withVariables<T>(fn: () => T): T {
    return fn(); // the variables are the state
  }

  snapshot(): EngineState {
    // copies: on the cpu backend dataSync hands back the storage that clones share
    return modelState(this.model).map((v) => (v.dataSync() as Float32Array).slice());
  }

  restore(state: EngineState): void {
    tf.tidy(() => modelState(this.model).forEach((v, i) => v.assign(tf.tensor(state[i] as Float32Array, v.shape))));
  }

  dispose(): void {
    this.lrTensor?.dispose();
    this.lrTensor = null;
    this.fixed?.X.dispose();
    this.fixed?.Y.dispose();
    this.fixed = null;
  }
}

/**
 * One step of plain SGD on a batch: the loss, the gradients of `params`
 * (shown to `onGrads`, if given) and `p = p - lr * grad` for each. Returns
 * the loss (before the update) as a scalar the caller must dispose.
 */
export function sgdStep(
  model: Model,
  params: readonly tfjs.Variable[],
  X: tfjs.Tensor2D,
  Y: tfjs.Tensor,
  lr: tfjs.Scalar,
  onGrads?: (grads: GradMap) => void,
): tfjs.Scalar {
  return tf.tidy(() => {
    const f = (): tfjs.Scalar => batchLoss(model, X, Y, true);
    if (!onGrads) {
      // Seeding backpropagation with lr instead of 1 gives lr * grad directly: one op less per parameter.
      const { value, grads } = tf.engine().gradients(f, [...params], lr, true);
      params.forEach((p, i) => {
        const g = grads[i];
        if (g) p.assign(tf.sub(p, g));
      });
      return value;
    }
    const { value, grads } = tf.engine().gradients(f, [...params], undefined, true);
    const map: GradMap = new Map();
    params.forEach((p, i) => {
      const g = grads[i];
      if (g) map.set(p, g);
    });
    onGrads(map);
    map.forEach((g, p) => p.assign(tf.sub(p, tf.mul(g, lr))));
    return value;
  });
}

/** Mean loss over the examples in chunks of tfjs ops: per example for contexts, per target for sequences. */
export function tfjsEvaluate(model: Model, data: Examples, chunkSize: number): number {
  let total = 0;
  let count = 0;
  let start = 0;
  forEachChunk(data, chunkSize, (X, Y, rows) => {
    const targets = isSequences(data) ? countTargets(data.Y, start * data.blockSize, rows * data.blockSize) : rows;
    const loss = tf.tidy(() => modelLoss(model, X, Y, false));
    total += (loss.dataSync()[0] as number) * targets;
    count += targets;
    loss.dispose();
    start += rows;
  });
  return total / count;
}

/** Targets that are not padding in `Y[from, from + length)`. */
function countTargets(Y: Int32Array, from: number, length: number): number {
  let n = 0;
  for (let i = from; i < from + length; i++) if ((Y[i] as number) >= 0) n++;
  return n;
}
