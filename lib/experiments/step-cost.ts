/**
 * What one training step of a model costs on a dataset: the time of a step,
 * the memory a run estimates for itself (what `makemore train` checks against
 * `--max-memory`) and the peak resident memory measured.
 *
 * Each measurement runs in a child process of its own: a process's peak RSS
 * only grows, so in a notebook kernel it would hold every earlier run (and the
 * TypeScript compiler). The child trains the model a few steps on the data's
 * training split, timing each step, then evaluates what a run evaluates (the
 * evaluation subsets of the train and test splits), and reports its own peak.
 *
 * @module
 */
import { spawn } from "child_process";
import { loadDataset } from "../data/datasets";
import { longestLine } from "../data/sequences";
import { Vocab } from "../data/vocab";
import type { Examples } from "../data/examples";
import type { Model } from "../models/model";
import { kernelsAvailable } from "../engines/kernels";
import { findModel } from "../models/registry";
import { initBackend } from "../runtime/backend";
import { splitLosses } from "../training/evaluate";
import { makeOptimizer } from "../optim/optimizers";
import { train } from "../training/train";
import { parameterCount, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { dataSize, estimateRunMemory } from "./limits";
import { prepareExperimentData } from "./run-data";
import { buildModel } from "./run-model";

/** What to measure. */
export interface StepCostOptions {
  /** a registered model kind that reads whole lines, e.g. "transformer" */
  model: string;
  /** a dataset name or file (lib/data/datasets.ts) */
  dataset: string;
  /** leave out lines longer than this */
  maxLineLength?: number;
  /** keep every k-th line only (default 1: all); the block size and the vocabulary stay the whole dataset's */
  every?: number;
  /** timed steps (default 5), after one untimed step that lays the engine out */
  steps?: number;
}

/** What {@link measureStepCost} measured. */
export interface StepCost {
  model: string;
  /** lines the run trains and evaluates on */
  lines: number;
  /** the longest line + 1: positions of every padded line */
  blockSize: number;
  params: number;
  /** what ran the steps */
  engine: string;
  /** median milliseconds of the timed steps (batch 32 lines) */
  msPerStep: number;
  /** seconds of one evaluation of the train and test subsets */
  evalSeconds: number;
  /** the run's memory estimate (lib/experiments/limits.ts), bytes */
  estimateBytes: number;
  /** the largest part of the estimate, e.g. the fused kernel memory */
  largestPart: { name: string; bytes: number };
  /** the child process's peak resident memory, bytes */
  peakRssBytes: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The lines of the measurement (the dataset cut to `maxLineLength`, every k-th line) and the whole cut dataset's vocabulary. */
function measuredLines(o: StepCostOptions): { words: string[]; vocab: Vocab } {
  const { words } = loadDataset(o.dataset, { maxLineLength: o.maxLineLength });
  const every = o.every ?? 1;
  const longest = longestLine(words);
  // the longest line stays and the vocabulary is the whole dataset's: the block size and parameters of a full run
  const kept = every === 1 ? words : words.filter((w, i) => i % every === 0 || w.length === longest);
  return { words: kept, vocab: Vocab.fromWords(words) };
}

/** Trains `steps` + 1 steps with the run's optimizer and batch size; the median time of all but the first (laying out the engine). */
async function timeSteps(model: Model, data: Examples, config: ExperimentConfig, steps: number) {
  const times: number[] = [];
  const run = await train(model, data, {
    steps: 1 + steps,
    batchSize: config.batchSize,
    lr: config.lr,
    optimizer: makeOptimizer(config.optimizer, { weightDecay: config.weightDecay, betas: [0.9, 0.99] }),
    syncEvery: 1, // onStep at every step, for its time
    progress: false,
    onStep: () => void times.push(performance.now()),
  });
  return { engine: run.engine, msPerStep: median(times.slice(1).map((t, i) => t - times[i]!)) };
}

/** Runs a measurement in this process (what the child does); the peak RSS is this process's. */
export async function stepCostHere(o: StepCostOptions): Promise<StepCost> {
  if (findModel(o.model)?.examples !== "sequence") throw new RangeError(`${o.model} does not read whole lines`);
  await initBackend(undefined, { quiet: true });
  const { words, vocab } = measuredLines(o);
  const config = resolveConfig({ model: o.model, blockSize: longestLine(words) + 1 });
  const estimate = estimateRunMemory(config, dataSize(words), vocab.size, { fusedAvailable: kernelsAvailable() });
  const data = prepareExperimentData(words, config.blockSize, vocab, "sequence");
  const model = buildModel(config, vocab.size);
  const { engine, msPerStep } = await timeSteps(model, data.train, config, o.steps ?? 5);
  const started = performance.now();
  splitLosses(model, data.evalSplits); // what a run evaluates, so the peak includes it
  const evalSeconds = (performance.now() - started) / 1000;
  model.dispose();
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  return {
    model: o.model,
    lines: words.length,
    blockSize: config.blockSize,
    params: parameterCount(config, vocab.size),
    engine,
    msPerStep,
    evalSeconds,
    estimateBytes: estimate.total,
    largestPart: estimate.parts[0] ?? { name: "none", bytes: 0 },
    peakRssBytes,
  };
}

/** The child's entry: measures, prints the result (or its error) as one line of JSON. */
export async function stepCostChild(json: string): Promise<void> {
  try {
    const result = await stepCostHere(JSON.parse(json) as StepCostOptions);
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (e) {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    process.stdout.write(JSON.stringify({ error }) + "\n");
    process.exitCode = 1;
  }
}

/** Node flags worth passing on to the child (wasm features, heap size), not the kernel's own. */
const inheritedFlags = (): string[] => process.execArgv.filter((a) => /^--(experimental|max|wasm)/.test(a));

/** The line of a crashed child's stderr that names its error (Node ends it with its version). */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  return lines.filter((l) => /^\w*Error\b/.test(l)).pop() ?? lines.pop() ?? "";
}

/**
 * Measures what a step costs in a fresh Node process (see the module comment).
 * @throws Error naming the model and the child's error when the measurement fails.
 */
export function measureStepCost(o: StepCostOptions): Promise<StepCost> {
  const script = "require('tsx/cjs'); require(process.argv[1]).stepCostChild(process.argv[2])";
  const child = spawn(process.execPath, [...inheritedFlags(), "-e", script, __filename, JSON.stringify(o)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      const reply = (last.startsWith("{") ? JSON.parse(last) : { error: errorLine(err) }) as StepCost & {
        error?: string;
      };
      if (code === 0 && !reply.error) resolve(reply);
      else reject(new Error(`measuring ${o.model} failed: ${reply.error ?? `exit ${code}`}`));
    });
  });
}
