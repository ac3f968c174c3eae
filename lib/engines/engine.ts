/**
 * What runs a model's training steps. Two engines implement it:
 *
 * - **tfjs** (tfjs-engine.ts): any model, one tfjs op at a time, with
 *   automatic differentiation;
 * - **fused** (fused-engine.ts): whole steps in the WebAssembly SIMD kernels,
 *   for the models that write their forward pass over the ops of
 *   lib/nn/ops-interface.ts (recorded as a graph, graph-net.ts).
 *
 * An engine owns the model's state while it runs: the fused one keeps it in
 * kernel memory and the variables are only current inside
 * {@link Engine.withVariables}, in gradient hooks, and after
 * {@link Engine.dispose}. lib/engines/factory.ts decides which engine serves a model.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Batch, Examples } from "../data/examples";

/** The engines. */
export type EngineName = "fused" | "tfjs";

/** What a caller asks for: an engine by name, or "auto" (fused when the model and options allow it). */
export type EngineChoice = "auto" | EngineName;

/** Gradients of one step, by parameter. */
export type GradMap = Map<tfjs.Variable, tfjs.Tensor>;

/** Copies of a model's parameters and buffers (running statistics), in the engine's order. */
export type EngineState = readonly Float32Array[];

/** Runs training steps of one model, owning its state meanwhile (see the module comment). */
export interface Engine {
  /** which engine this is */
  readonly name: EngineName;
  /** the arrays the next step reads its batch from: fill them (kernel memory on the fused engine) */
  readonly batch: Batch;
  /**
   * Forward pass, loss, gradients and the optimizer's update. `onGrads` sees
   * the gradients before the update, with the model's variables holding the
   * parameters they were computed with; what it changes in the variables
   * stays. Returns the loss before the update: a number, or a scalar tensor
   * read later (the tfjs engine avoids a sync per step).
   */
  step(lr: number, onGrads?: (grads: GradMap) => void): number | tfjs.Scalar;
  /** Mean loss over every example of the current state, in evaluation mode and in chunks, without regularization. */
  evaluate(data: Examples, chunkSize?: number): number;
  /** Runs `fn` with the model's variables holding the current state, then takes back whatever `fn` changed in them. */
  withVariables<T>(fn: () => T): T;
  /** A copy of the current state. */
  snapshot(): EngineState;
  /** Puts a {@link Engine.snapshot} back. */
  restore(state: EngineState): void;
  /** Writes the state into the model's variables and frees what the engine holds (not the model). */
  dispose(): void;
}
