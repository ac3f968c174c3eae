/**
 * What the two fused engines share: a network in kernel memory that the
 * model's variables are copied into once and written back from when someone
 * needs them ({@link Engine.sync}), gradient hooks that see ordinary tfjs
 * tensors, and evaluation networks kept by chunk size. The lecture models'
 * engine (fused-engine.ts) and the sequence models' (graph-engine.ts) differ
 * only in their network, their update and how they evaluate.
 *
 * @module
 */
import type { Batch, Examples } from "../data/examples";
import type { Optimizer } from "../training/optimizers";
import type { Engine, GradMap } from "./engine";

/** A network in kernel memory, as the engine drives it. */
export interface KernelNet {
  /** copies the model's variables in */
  load(): void;
  /** writes them back */
  store(): void;
  /** forward, loss and gradients of the batch in its views; returns the loss */
  forwardBackward(): number;
  /** the last gradients as new tfjs tensors by variable (the caller disposes them) */
  gradients(): GradMap;
  /** the arrays the next step reads its batch from */
  batchViews(): Batch;
}

/** An {@link Engine} over a {@link KernelNet}; subclasses say how to update and evaluate. */
export abstract class KernelEngine<N extends KernelNet> implements Engine {
  readonly name = "fused";
  readonly batch: Batch;
  /** kernel memory holds steps the variables have not seen yet */
  private unsynced = false;
  /** networks for evaluation, by chunk size (the chunking of the split decides the rounding, so it stays fixed) */
  private readonly evalNets = new Map<number, N>();

  /** `net` must be loaded and fully laid out: its batch views are taken here. */
  protected constructor(
    protected readonly net: N,
    protected readonly optimizer: Optimizer,
  ) {
    this.batch = net.batchViews();
  }

  step(lr: number, onGrads?: (grads: GradMap) => void): number {
    const loss = this.net.forwardBackward();
    if (onGrads) this.showGradients(onGrads);
    this.update(lr);
    this.unsynced = true; // after the hook, whose reload leaves the variables and the memory equal
    return loss;
  }

  /** Applies the optimizer to the gradients of the last step. */
  protected abstract update(lr: number): void;

  /** The hook sees tfjs variables holding the parameters before this update. */
  private showGradients(onGrads: (grads: GradMap) => void): void {
    this.net.store();
    const grads = this.net.gradients();
    try {
      onGrads(grads);
    } finally {
      grads.forEach((g) => g.dispose());
    }
    this.reload();
  }

  evaluate(data: Examples, chunkSize?: number): number {
    this.sync();
    const size = this.evalChunk(data, chunkSize);
    const net = this.evalNets.get(size) ?? this.evalNet(size);
    this.evalNets.set(size, net);
    return this.evaluateOn(net, data);
  }

  /** Examples per evaluation chunk. */
  protected abstract evalChunk(data: Examples, chunkSize?: number): number;
  /** A network for evaluating chunks of `size`. */
  protected abstract evalNet(size: number): N;
  /** Mean loss of `data` through `net` (which loads the variables first). */
  protected abstract evaluateOn(net: N, data: Examples): number;

  sync(): void {
    // a pause reads the losses and then evaluates: one copy to the variables serves both
    if (!this.unsynced) return;
    this.net.store();
    this.unsynced = false;
  }

  reload(): void {
    this.net.load();
    this.unsynced = false;
  }

  dispose(): void {
    this.evalNets.clear();
  }
}
