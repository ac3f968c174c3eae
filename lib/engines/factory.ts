/**
 * The one place that decides which engine runs a model: training,
 * evaluation and the learning-rate finder ask {@link planEngine} (through
 * {@link createEngine} and {@link evaluateLoss}) once, then talk only to the
 * {@link Engine} they get.
 *
 * @module
 */
import type { Examples } from "../data/examples";
import type { Model } from "../models/model";
import type { Optimizer } from "../optim/optimizers";
import { evalChunk } from "./chunks";
import type { Engine, EngineChoice } from "./engine";
import { FusedEngine, fusedEvaluate, fusedPlan } from "./fused-engine";
import type { GraphModel } from "./graph-net";
import { TfjsEngine, tfjsEvaluate } from "./tfjs-engine";

/** Which engine serves a model: fused with the model as a graph model, or tfjs and why not fused. */
export type EnginePlan = { name: "fused"; model: GraphModel } | { name: "tfjs"; reason: string };

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
  const plan = choice === "tfjs" ? "engine tfjs was asked for" : fusedPlan(model, batch, training);
  if (typeof plan !== "string") return { name: "fused", model: plan };
  if (choice === "fused") throw new RangeError(`cannot ${doing} fused: ${plan}`);
  return { name: "tfjs", reason: plan };
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
  /** threads the fused engine's kernel calls are split over (default 1; the tfjs engine ignores it) */
  threads?: number;
  /**
   * false: the steps run on all `threads` (a benchmark's fixed count); by default a fused engine on
   * several threads times some steps on them and on one, and keeps the faster (same losses)
   */
  chooseThreads?: boolean;
}

/** An engine for training `model` (see {@link planEngine} for which). */
export function createEngine(model: Model, options: EngineOptions): Engine {
  const plan = planEngine(model, options.engine ?? "auto", options.batchSize, true, options.doing);
  if (plan.name === "fused") {
    const { batchSize, optimizer, threads = 1, chooseThreads = true } = options;
    return new FusedEngine(plan.model, batchSize, optimizer, threads, chooseThreads);
  }
  return new TfjsEngine(model, options.batchSize, options.targetWidth, options.optimizer, options.fixedBatch);
}

/**
 * Mean loss of a model's variables over every example, in evaluation mode and
 * in chunks of `chunkSize` (see lib/engines/chunks.ts for the defaults), on
 * the engine `choice` picks (the fused one on `threads` threads).
 */
export function evaluateLoss(
  model: Model,
  data: Examples,
  choice: EngineChoice = "auto",
  chunkSize?: number,
  threads = 1,
): number {
  const plan = planEngine(model, choice, evalChunk(model, data.n, "fused", chunkSize), false);
  if (plan.name === "tfjs") return tfjsEvaluate(model, data, evalChunk(model, data.n, "tfjs", chunkSize));
  return fusedEvaluate(plan.model, data, chunkSize, threads);
}
