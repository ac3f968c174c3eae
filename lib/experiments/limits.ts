/**
 * Memory a run will need, worked out from its configuration and data before
 * anything is trained or written, so that a size that cannot fit (a batch of a
 * hundred million, a context of a million characters) is refused at once
 * instead of failing after minutes with "memory access out of bounds".
 *
 * The estimate adds up: the process itself, the encoded data, the
 * parameters, the training step, the evaluation chunks, checkpoint copies,
 * AdamW's two moments and the minibatch. The model is built for it (its
 * parameters only, after its parameter count says they are few enough), and
 * the training step is sized from the model itself, for any kind: on the
 * fused engine by laying out its graph for the batch and for an evaluation
 * chunk (`graphBytes`, counted without memory: the kernel memory exactly); on
 * tfjs from the tensors its eager forward pass keeps for one and two
 * examples, times {@link TFJS_AUTODIFF_FACTOR}, plus {@link LOSS_COPIES}
 * tensors the size of the logits. The sum is compared with a ceiling:
 * `--max-memory`, else MAKEMORE_MAX_MEMORY, else half of the machine's memory.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import * as os from "os";
import { evalChunk } from "../engines/chunks";
import { FUSED_MAX_BYTES } from "../engines/fused-engine";
import { graphBytes } from "../engines/graph-net";
import { isOpsModel, type Model, type OpsModel } from "../models/model";
import { findModel } from "../models/registry";
import { EagerOps } from "../nn/eager";
import { quietDefaultBackend } from "../runtime/backend";
import { tf } from "../runtime/tf";
import { ConfigError, type ExperimentConfig } from "./hyperparams";
import { evalSubsetSize } from "./run-data";
import { buildModel } from "./run-model";

/**
 * What a tfjs training step keeps per example, over what the eager forward
 * pass keeps: autodiff holds every forward value while the backward pass
 * makes gradients and temporaries (tf.profile's peaks for every registered
 * kind stay under it, test/limits.test.ts; the largest measured ratio was 3.2).
 */
export const TFJS_AUTODIFF_FACTOR = 4;

/** Tensors the size of the logits the cross-entropy and its gradient hold at once (one-hot, log-softmax, ...). */
export const LOSS_COPIES = 16;

/** Parameters above which a model is not built to size its step (it could not fit anyway). */
const SIZING_MAX_PARAMS = 100_000_000;

/** Most memory the wasm backend of TensorFlow.js can address (32-bit WebAssembly memory). */
export const WASM_BACKEND_MAX_BYTES = 2 ** 32;

/** Memory of a Node process with TensorFlow.js and the lib loaded, before any data (measured about 120 MB; rounded up). */
export const PROCESS_BASE_BYTES = 200 * 2 ** 20;

/** What the data of a run amounts to. */
export interface DataSize {
  /** lines (words) */
  lines: number;
  /** characters in all lines */
  chars: number;
}

/** The size of a list of lines. */
export function dataSize(words: readonly string[]): DataSize {
  let chars = 0;
  for (const w of words) chars += w.length;
  return { lines: words.length, chars };
}

/** One part of an estimate. */
export interface MemoryPart {
  /** what it is, e.g. "activations" */
  name: string;
  /** bytes */
  bytes: number;
}

/** A run's memory estimate. */
export interface MemoryEstimate {
  /** the engine that would run the training steps */
  engine: "fused" | "tfjs";
  /** the parts, largest first */
  parts: MemoryPart[];
  /** their sum */
  total: number;
  /** the part held by TensorFlow.js (what the wasm backend's memory must hold) */
  tfjsBytes: number;
}

/** What {@link estimateRunMemory} needs besides the configuration. */
export interface EstimateOptions {
  /** whether the fused kernels can run here (lib/engines/kernels.ts kernelsAvailable()) */
  fusedAvailable: boolean;
  /** threads the fused kernels run on (default 1): each has its scratch in the kernel memory, each worker its own heap */
  threads?: number;
}

/** Memory of one kernel worker thread, its V8 heap and its instance of the kernels (measured 16.6 MB of RSS; rounded up). */
export const KERNEL_WORKER_BYTES = 20 * 2 ** 20;

/** The memory a run of `config` on data of `size` with `vocabSize` tokens will need (see the module comment). */
export function estimateRunMemory(
  config: ExperimentConfig,
  size: DataSize,
  vocabSize: number,
  options: EstimateOptions,
): MemoryEstimate {
  const spec = findModel(config.model);
  if (!spec) throw new ConfigError(`unknown model ${config.model}`);
  const P = spec.parameterCount(config, vocabSize);
  const sequence = spec.examples === "sequence";
  // an example is a line for sequence models, a character (or line end) for context windows
  const examples = sequence ? size.lines : size.chars + size.lines;
  const evalExamples = Math.max(2, Math.min(examples, evalSubsetSize(spec.examples, config.blockSize)));
  const model = P <= SIZING_MAX_PARAMS ? buildForSizing(config, vocabSize) : null;
  try {
    const threads = options.threads ?? 1;
    const fused = model && options.fusedAvailable ? fusedStep(model, config.batchSize, P, evalExamples, threads) : null;
    const step = fused ?? tfjsStep(model, config.batchSize, P, evalExamples);
    const parts = [...runParts(config, size, P, examples, sequence), ...step.parts].sort((a, b) => b.bytes - a.bytes);
    const total = parts.reduce((a, p) => a + p.bytes, 0);
    return { engine: fused ? "fused" : "tfjs", parts, total, tfjsBytes: step.tfjsBytes };
  } finally {
    model?.dispose();
  }
}

/** The parts of a run that do not depend on the engine. */
function runParts(
  config: ExperimentConfig,
  size: DataSize,
  P: number,
  examples: number,
  sequence: boolean,
): MemoryPart[] {
  const [B, T] = [config.batchSize, config.blockSize];
  return [
    { name: "process", bytes: PROCESS_BASE_BYTES },
    // the examples of every split (the training split is built twice while the evaluation subsets are drawn)
    { name: "data", bytes: 2 * examples * (T + 1) * 4 * (sequence ? 2 : 1) + size.chars * 2 + size.lines * 32 },
    { name: "parameters", bytes: P * 4 },
    // a checkpoint is copied out of the model and encoded before it is written
    { name: "checkpoints", bytes: 2 * P * 4 },
    { name: "optimizer state", bytes: config.optimizer === "adamw" ? 2 * P * 4 : 0 },
    { name: `minibatch of ${B.toLocaleString("en-US")}`, bytes: 2 * B * (T + 1) * 4 },
  ];
}

/** The configuration's model with fresh parameters, to size; the backend may not be chosen yet. */
function buildForSizing(config: ExperimentConfig, V: number): Model & OpsModel {
  quietDefaultBackend();
  const model = buildModel(config, V);
  if (isOpsModel(model)) return model;
  model.dispose();
  throw new Error(`model ${config.model} has no forward pass over ops to size`);
}

/** A step's parts, and what of it TensorFlow.js holds. */
interface StepMemory {
  parts: MemoryPart[];
  tfjsBytes: number;
}

/**
 * The fused engine's step: its kernel memory and an evaluation net per split
 * (the previous one may not be collected yet), or null when the fused engine
 * would not take the batch.
 */
function fusedStep(
  model: Model & OpsModel,
  batch: number,
  P: number,
  evalExamples: number,
  threads: number,
): StepMemory | null {
  if (batch < (model.examples === "sequence" ? 1 : 2)) return null;
  const train = graphBytes(model, batch, true, threads);
  if (train > FUSED_MAX_BYTES) return null;
  const evaluation = graphBytes(model, evalChunk(model, evalExamples, "fused"), false, threads);
  const workers = threads - 1;
  return {
    parts: [
      { name: "fused kernel memory (parameters, gradients, activations)", bytes: train },
      { name: "evaluation", bytes: 2 * evaluation },
      ...(workers > 0 ? [{ name: `${workers} kernel worker thread${workers > 1 ? "s" : ""}`, bytes: workers * KERNEL_WORKER_BYTES }] : []), // prettier-ignore
    ],
    tfjsBytes: P * 4,
  };
}

/** The tfjs engine's step: gradients, the activations of the batch, and those of an evaluation chunk. */
function tfjsStep(model: (Model & OpsModel) | null, B: number, P: number, evalExamples: number): StepMemory {
  const eager = model ? eagerBytesPerExample(model) : { forward: 0, logits: 0 };
  const loss = LOSS_COPIES * eager.logits;
  const [step, evaluation] = [TFJS_AUTODIFF_FACTOR * eager.forward + loss, eager.forward + loss];
  const chunk = model ? Math.min(evalChunk(model, evalExamples, "tfjs"), evalExamples) : 0;
  return {
    parts: [
      { name: "gradients", bytes: 2 * P * 4 },
      { name: `activations of a batch of ${B.toLocaleString("en-US")}`, bytes: B * step },
      { name: "evaluation", bytes: chunk * evaluation },
    ],
    tfjsBytes: P * 4 * 3 + Math.max(B * step, chunk * evaluation),
  };
}

/**
 * Bytes the eager forward pass keeps per example (every tensor it makes stays
 * until its scope ends, as autodiff keeps them), and of those the logits:
 * what one more example adds, in evaluation mode.
 */
function eagerBytesPerExample(model: Model & OpsModel): { forward: number; logits: number } {
  const kept = (batch: number): [number, number] =>
    tf.tidy(() => {
      const before = tf.memory().numBytes;
      const X = tf.zeros([batch, model.blockSize], "int32") as tfjs.Tensor2D;
      const logits = model.logits(new EagerOps(X, false));
      return [tf.memory().numBytes - before, logits.size * 4];
    });
  const [one, two] = [kept(1), kept(2)];
  return { forward: two[0] - one[0], logits: two[1] - one[1] };
}

/** A memory ceiling and where it came from (for the message). */
export interface MemoryCeiling {
  /** bytes */
  bytes: number;
  /** e.g. "--max-memory 2 GB", "MAKEMORE_MAX_MEMORY=2g", "half of this machine's 23.5 GB" */
  source: string;
}

/** Environment variable that sets the memory ceiling (like --max-memory). */
export const MAX_MEMORY_ENV = "MAKEMORE_MAX_MEMORY";

/**
 * Parses a size: a number of bytes, or a number with a unit k, m, g, t
 * (powers of 1024; "kb", "mib", "GB" and the like are read the same).
 * @throws ConfigError for anything else, or a size below 1 MB.
 */
export function parseByteSize(text: string, what = "a size"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const units: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const bytes = m ? Number(m[1]) * (units[(m[2] ?? "").toLowerCase()] as number) : NaN;
  if (!Number.isFinite(bytes) || bytes < 2 ** 20) {
    throw new ConfigError(`${what} must be a size of at least 1 MB such as 512m, 8g or 2147483648, got '${text}'`);
  }
  return Math.floor(bytes);
}

/** A byte count for messages: "1.5 GB", "200 MB" (powers of 1024). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "unbounded memory";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 100 ? 1 : 0)} ${units[i]}`;
}

/**
 * The memory ceiling: `flag` (--max-memory, in bytes) when given, else
 * MAKEMORE_MAX_MEMORY, else half of os.totalmem().
 * @throws ConfigError for a bad MAKEMORE_MAX_MEMORY.
 */
export function memoryCeiling(flag?: number, env: NodeJS.ProcessEnv = process.env): MemoryCeiling {
  if (flag !== undefined) return { bytes: flag, source: `--max-memory ${formatBytes(flag)}` };
  const fromEnv = env[MAX_MEMORY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return { bytes: parseByteSize(fromEnv, MAX_MEMORY_ENV), source: `${MAX_MEMORY_ENV}=${fromEnv.trim()}` };
  }
  const total = os.totalmem();
  return { bytes: Math.floor(total / 2), source: `half of this machine's ${formatBytes(total)}` };
}

/** A run refused because it would need more memory than it may have. */
export class MemoryLimitError extends Error {
  /** the estimate */
  readonly estimate: MemoryEstimate;

  constructor(message: string, estimate: MemoryEstimate) {
    super(message);
    this.name = "MemoryLimitError";
    this.estimate = estimate;
  }
}

/** "activations of a batch of 100,000,000 450 GB, evaluation 3.4 GB": the largest parts. */
function largestParts(e: MemoryEstimate, count = 2): string {
  return e.parts
    .slice(0, count)
    .map((p) => `${p.name} ${formatBytes(p.bytes)}`)
    .join(", ");
}

/**
 * Refuses an estimate that does not fit: over the ceiling, or on the tfjs
 * path with the wasm backend, over what 32-bit WebAssembly memory can hold.
 * @param what - what is refused, e.g. "the run" or "combination 3fa2c1".
 * @param backend - the TensorFlow.js backend that will hold the tensors.
 * @throws MemoryLimitError with one line: what is needed, the largest parts, the ceiling and how to change it.
 */
export function checkRunMemory(e: MemoryEstimate, ceiling: MemoryCeiling, backend: string, what = "the run"): void {
  if (e.total > ceiling.bytes) {
    throw new MemoryLimitError(
      `${what} needs about ${formatBytes(e.total)} of memory (${largestParts(e)}), more than the ceiling of ` +
        `${formatBytes(ceiling.bytes)} (${ceiling.source}; --max-memory or ${MAX_MEMORY_ENV} sets it)`,
      e,
    );
  }
  if (e.engine === "tfjs" && backend === "wasm" && e.tfjsBytes > WASM_BACKEND_MAX_BYTES) {
    throw new MemoryLimitError(
      `${what} needs about ${formatBytes(e.tfjsBytes)} of TensorFlow.js memory (${largestParts(e)}), more than ` +
        `the ${formatBytes(WASM_BACKEND_MAX_BYTES)} the wasm backend can address; use a smaller --batch-size`,
      e,
    );
  }
}
