/**
 * One interface for what runs a model's steps. Two engines implement it:
 *
 * - **tfjs** (`tfjs-engine.ts`): any model, one tfjs op at a time, with
 *   automatic differentiation;
 * - **fused**: whole steps in the WebAssembly SIMD kernels, for the lecture
 *   models that describe themselves as a {@link FusedSpec} (`fused-engine.ts`)
 *   and the sequence models that record a fused graph (`graph-engine.ts`).
 *
 * Training, evaluation and the learning-rate finder ask {@link planEngine}
 * once which engine serves a model, then talk only to the {@link Engine}.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Batch, Examples } from "../data/examples";
import { isSequenceModel, type Model } from "../models/model";
import type { Optimizer } from "../training/optimizers";
import { fusedPlan, FusedEngine, fusedEvaluate } from "./fused-engine";
import type { FusedSpec } from "./fused";
import type { GraphModel } from "./graph";
import { evalLines, GraphEngine, graphEvaluate, graphPlan } from "./graph-engine";
import { TfjsEngine, tfjsEvalChunk, tfjsEvaluate } from "./tfjs-engine";

/** The engines. */
export type EngineName = "fused" | "tfjs";

/** What a caller asks for: an engine by name, or "auto" (fused when the model and options allow it). */
export type EngineChoice = "auto" | EngineName;

/** Gradients of one step, by parameter. */
export type GradMap = Map<tfjs.Variable, tfjs.Tensor>;

/** Runs training steps of one model and keeps its variables in step with its own state. */
export interface Engine {
  /** which engine this is */
  readonly name: EngineName;
  /** the arrays the next step reads its batch from: fill them (kernel memory on the fused engine) */
  readonly batch: Batch;
  /**
   * Forward pass, loss, gradients (shown to `onGrads` before the update, then
   * disposed) and the optimizer's update. Returns the loss before the update:
   * a number, or a scalar tensor read later (the tfjs engine avoids a sync per step).
   */
  step(lr: number, onGrads?: (grads: GradMap) => void): number | tfjs.Scalar;
  /** Mean loss over every example, in evaluation mode and in chunks, without regularization. */
  evaluate(data: Examples, chunkSize?: number): number;
  /** Brings the model's variables up to date with the engine's state. */
  sync(): void;
  /** Takes the variables' values back after someone changed them. */
  reload(): void;
  /** Frees what the engine holds (not the model). */
  dispose(): void;
}

/**
 * Which engine serves a model, and why not the other. The fused engine runs
 * a lecture model from its layer list (`spec`) and a sequence model from its graph (`graph`).
 */
export type EnginePlan =
  { name: "fused"; spec: FusedSpec } | { name: "fused"; graph: GraphModel } | { name: "tfjs"; reason: string };

/**
 * The one decision of which engine runs a model: "auto" takes the fused
 * engine when {@link fusedPlan} allows it, "fused" refuses with the reason
 * when it does not.
 * @param batch - examples per step (or per evaluation chunk)
 * @param training - false for evaluation, which needs no regularization term
 * @param doing - what the refusal says cannot be done fused ("train", "evaluate", ...)
 * @throws RangeError for an unknown choice, or "fused" when the model cannot run fused.
 */
export function planEngine(
  model: Model,
  choice: EngineChoice,
  batch: number,
  training = true,
  doing = training ? "train" : "evaluate",
): EnginePlan {
  if (choice !== "auto" && choice !== "fused" && choice !== "tfjs") {
    throw new RangeError(`engine must be "auto", "fused" or "tfjs", got ${String(choice)}`);
  }
  const plan = choice === "tfjs" ? "engine tfjs was asked for" : fusedForm(model, batch, training);
  if (typeof plan !== "string") return plan;
  if (choice === "fused") throw new RangeError(`cannot ${doing} fused: ${plan}`);
  return { name: "tfjs", reason: plan };
}

/** The fused plan of a model (a layer list for lecture models, a graph for sequence models), or why there is none. */
function fusedForm(model: Model, batch: number, training: boolean): EnginePlan | string {
  if (isSequenceModel(model)) {
    const graph = graphPlan(model, batch, training);
    return typeof graph === "string" ? graph : { name: "fused", graph };
  }
  const spec = fusedPlan(model, batch, 0, training);
  return typeof spec === "string" ? spec : { name: "fused", spec };
}

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** what to run on (default "auto") */
  engine?: EngineChoice;
  /** examples per step */
  batchSize: number;
  /** how targets are laid out: 1 per example (contexts) or one per position (sequences) */
  targetWidth: number;
  /** the update rule */
  optimizer: Optimizer;
  /** the batch is filled once and never changes (full-batch training) */
  fixedBatch?: boolean;
  /** what a refusal of "fused" names (default "train") */
  doing?: string;
}

/** An engine for training `model` (see {@link planEngine} for which). */
export function createEngine(model: Model, options: EngineOptions): Engine {
  const plan = planEngine(model, options.engine ?? "auto", options.batchSize, true, options.doing);
  if (plan.name === "tfjs") {
    return new TfjsEngine(model, options.batchSize, options.targetWidth, options.optimizer, options.fixedBatch);
  }
  return "graph" in plan
    ? new GraphEngine(plan.graph, options.batchSize, options.optimizer)
    : new FusedEngine(plan.spec, options.batchSize, options.optimizer);
}

/**
 * Mean loss of a model over every example, in evaluation mode and in chunks of
 * `chunkSize` (default 2,048 fused, 8,192 tfjs; for lines about 16,384 tokens), on the engine `choice` picks.
 */
export function evaluateLoss(model: Model, data: Examples, choice: EngineChoice = "auto", chunkSize?: number): number {
  const lines = isSequenceModel(model)
    ? evalLines(model, data, chunkSize)
    : Math.max(2, Math.min(chunkSize ?? 2048, data.n));
  const plan = planEngine(model, choice, lines, false);
  if (plan.name === "tfjs") return tfjsEvaluate(model, data, chunkSize ?? tfjsEvalChunk(model, data));
  return "graph" in plan
    ? graphEvaluate(plan.graph, data, chunkSize)
    : fusedEvaluate(plan.spec, data, chunkSize ?? 2048);
}
