/**
 * Memory a run will need, worked out from its configuration and data before
 * anything is built or written, so that a size that cannot fit (a batch of a
 * hundred million, a context of a million characters) is refused at once
 * instead of failing after minutes with "memory access out of bounds".
 *
 * The estimate adds up: the process itself, the encoded data, the
 * parameters, the training step of the engine that will run it (on the fused
 * engine its kernel memory, laid out exactly as lib/engines/fused.ts lays it
 * out, or as a sequence model's fused graph lays it out; on tfjs the
 * gradients and the activations autodiff keeps), the evaluation chunks,
 * checkpoint copies, AdamW's two moments and the minibatch. It is compared with a ceiling:
 * `--max-memory`, else MAKEMORE_MAX_MEMORY, else half of the machine's memory.
 *
 * @module
 */
import * as os from "os";
import { bufferEnd } from "../engines/kernels";
import { FUSED_MAX_BYTES } from "../engines/fused-engine";
import { graphBytes, isGraphModel } from "../engines/graph";
import { evalLines, GRAPH_MAX_BYTES } from "../engines/graph-engine";
import { findModel } from "../models/registry";
import { quietDefaultBackend } from "../runtime/backend";
import { ConfigError, type ExperimentConfig } from "./hyperparams";
import { evalSubsetSize } from "./run-data";
import { buildModel } from "./run-model";

/** A layer as the fused engine lays it out (see `fusedSpec()` of the models). */
type LayerShape =
  | { kind: "embedding"; vocab: number; dim: number }
  | { kind: "linear"; fanIn: number; fanOut: number; bias: boolean }
  | { kind: "batchnorm"; dim: number }
  | { kind: "tanh"; dim: number };

/**
 * The layers of a configuration's model, in the order of its fused spec
 * (lib/models/*: fusedSpec); empty for the sequence models, whose fused
 * graphs are sized by {@link graphMemory}.
 */
export function layerShapes(config: ExperimentConfig, vocabSize: number): LayerShape[] {
  const V = vocabSize;
  const { blockSize: T, nEmbd: E, nHidden: H } = config;
  switch (config.model) {
    case "bigram":
      return [{ kind: "embedding", vocab: V, dim: V }];
    case "mlp":
    case "mlp-bn": {
      const bn = config.model === "mlp-bn";
      return [
        { kind: "embedding", vocab: V, dim: E },
        { kind: "linear", fanIn: T * E, fanOut: H, bias: !bn },
        ...(bn ? [{ kind: "batchnorm" as const, dim: H }] : []),
        { kind: "tanh", dim: H },
        { kind: "linear", fanIn: H, fanOut: V, bias: true },
      ];
    }
    case "deep": {
      const layers: LayerShape[] = [{ kind: "embedding", vocab: V, dim: E }];
      let fanIn = T * E;
      for (let i = 0; i < config.nLayers; i++) {
        layers.push(
          { kind: "linear", fanIn, fanOut: H, bias: false },
          { kind: "batchnorm", dim: H },
          { kind: "tanh", dim: H },
        );
        fanIn = H;
      }
      layers.push({ kind: "linear", fanIn, fanOut: V, bias: false }, { kind: "batchnorm", dim: V });
      return layers;
    }
    default:
      return [];
  }
}

/** Sizes of the trainable parameters in fused-spec order (embedding table, weight and bias, gamma and beta). */
function paramSizes(layers: readonly LayerShape[]): number[] {
  return layers.flatMap((l) => {
    if (l.kind === "embedding") return [l.vocab * l.dim];
    if (l.kind === "linear") return l.bias ? [l.fanIn * l.fanOut, l.fanOut] : [l.fanIn * l.fanOut];
    if (l.kind === "batchnorm") return [l.dim, l.dim];
    return [];
  });
}

/**
 * Kernel memory of a fused network of this configuration for a batch: the
 * allocations of lib/engines/fused.ts's layout, in its order, so the figure
 * equals `fusedBytes` (a test holds them equal) without building the model.
 */
export function fusedKernelBytes(config: ExperimentConfig, vocabSize: number, batchSize: number): number {
  const B = batchSize;
  const layers = layerShapes(config, vocabSize);
  let end = 0;
  const alloc = (count: number, times = 1): void => {
    for (let i = 0; i < times; i++) end = bufferEnd(end, count);
  };
  const floats = paramSizes(layers).reduce((a, s) => a + Math.ceil(s / 16) * 16, 0);
  alloc(floats, 2); // parameters, then their gradients
  alloc(B * config.blockSize);
  alloc(B);
  for (const l of layers) {
    if (l.kind === "embedding") alloc(B * config.blockSize * l.dim, 2);
    else if (l.kind === "linear") {
      alloc(l.fanIn * l.fanOut); // the transposed weights
      alloc(B * l.fanOut, 2);
    } else if (l.kind === "batchnorm") {
      alloc(l.dim, 6); // running mean and statistic, batch mean, 1/std, variance, scratch
      alloc(B * l.dim, 3);
    } else alloc(B * l.dim, 2);
  }
  return end;
}

/** Floats per example of the activations and their gradients (what grows with the batch). */
function activationFloats(config: ExperimentConfig, vocabSize: number): number {
  return layerShapes(config, vocabSize).reduce((a, l) => {
    if (l.kind === "embedding") return a + 2 * config.blockSize * l.dim;
    if (l.kind === "linear") return a + 2 * l.fanOut;
    if (l.kind === "batchnorm") return a + 3 * l.dim;
    return a + 2 * l.dim;
  }, 0);
}

/**
 * Bytes per example that a tfjs training step keeps alive at its peak: 2.5
 * times the fused engine's activations and their gradients (autodiff keeps
 * the forward values, and the backward pass makes gradients and
 * temporaries), plus the cross-entropy's [batch, vocab] tensors (one-hot,
 * log-softmax, exp, products). Peaks measured with tf.profile on cpu were
 * 0.4 to 0.8 times this (test/limits.test.ts holds them below it).
 */
function tfjsBytesPerExample(config: ExperimentConfig, vocabSize: number): number {
  if (layerShapes(config, vocabSize).length === 0) return 4 * sequenceActivationFloats(config, vocabSize);
  return 10 * activationFloats(config, vocabSize) + 64 * vocabSize;
}

/**
 * A rough count of the floats a sequence model keeps per line in a tfjs
 * step: at every position and layer a few activations of the widest
 * dimension and their gradients, the logits, and (for attention) the
 * [heads, T, T] scores, their softmax and gradients. Only the shape keys the
 * model uses count (a GRU has no layers to multiply by).
 */
function sequenceActivationFloats(config: ExperimentConfig, vocabSize: number): number {
  const uses = findModel(config.model)?.uses ?? [];
  const T = config.blockSize;
  const layers = uses.includes("nLayers") ? Math.max(1, config.nLayers) : 1;
  const widths = (["nEmbd", "nEmbd2", "nHidden"] as const).filter((k) => uses.includes(k)).map((k) => config[k]);
  const width = Math.max(1, ...widths) * (config.model === "transformer" ? 4 : 1); // the transformer's MLP is 4·nEmbd wide
  const attention = config.model === "transformer" ? 4 * layers * config.nHead * T * T : 0;
  return 12 * T * layers * width + 4 * T * vocabSize + attention;
}

/** Most memory the wasm backend of TensorFlow.js can address (32-bit WebAssembly memory). */
export const WASM_BACKEND_MAX_BYTES = 2 ** 32;

/** Memory of a Node process with TensorFlow.js and the lib loaded, before any data (measured about 120 MB; rounded up). */
export const PROCESS_BASE_BYTES = 200 * 2 ** 20;

/** Examples per evaluation chunk: the fused engine's, and the tfjs path's (see lib/training/evaluate.ts). */
const EVAL_CHUNK = { fused: 2048, tfjs: 8192 } as const;

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
}

/** The memory a run of `config` on data of `size` with `vocabSize` tokens will need (see the module comment). */
export function estimateRunMemory(
  config: ExperimentConfig,
  size: DataSize,
  vocabSize: number,
  options: EstimateOptions,
): MemoryEstimate {
  const V = vocabSize;
  const B = config.batchSize;
  const T = config.blockSize;
  const shapes = layerShapes(config, V);
  const sequence = findModel(config.model)?.examples === "sequence";
  const P =
    shapes.length > 0
      ? paramSizes(shapes).reduce((a, s) => a + s, 0)
      : (findModel(config.model)?.parameterCount(config, V) ?? 0);
  // an example is a line for sequence models, a character (or line end) for context windows
  const examples = sequence ? size.lines : size.chars + size.lines;
  const evalExamples = Math.max(2, Math.min(examples, evalSubsetSize(sequence ? "sequence" : "context", T)));
  const graph = sequence && options.fusedAvailable ? graphMemory(config, V, evalExamples) : null;
  const kernel = graph ? graph.train : B >= 2 && shapes.length > 0 ? fusedKernelBytes(config, V, B) : Infinity;
  const engine = options.fusedAvailable && kernel <= (sequence ? GRAPH_MAX_BYTES : FUSED_MAX_BYTES) ? "fused" : "tfjs";
  const perExample = tfjsBytesPerExample(config, V);
  // what one tfjs evaluation chunk holds: 8,192 windows, or lines of about 16,384 tokens
  const tfjsChunk = Math.min(sequence ? evalLines(config, { n: evalExamples }) : EVAL_CHUNK.tfjs, evalExamples);
  const parts: MemoryPart[] = [
    { name: "process", bytes: PROCESS_BASE_BYTES },
    // the examples of every split (the training split is built twice while the evaluation subsets are drawn)
    { name: "data", bytes: 2 * examples * (T + 1) * 4 * (sequence ? 2 : 1) + size.chars * 2 + size.lines * 32 },
    { name: "parameters", bytes: P * 4 },
    // a checkpoint is copied out of the model and encoded before it is written
    { name: "checkpoints", bytes: 2 * P * 4 },
    { name: "optimizer state", bytes: config.optimizer === "adamw" ? 2 * P * 4 : 0 },
    { name: `minibatch of ${B.toLocaleString("en-US")}`, bytes: 2 * B * (T + 1) * 4 },
  ];
  if (engine === "fused") {
    parts.push({ name: "fused kernel memory (parameters, gradients, activations)", bytes: kernel });
    // one network per split evaluation; the previous one may not be collected yet
    const evaluation = graph ? graph.evaluation : fusedKernelBytes(config, V, Math.min(EVAL_CHUNK.fused, evalExamples));
    parts.push({ name: "evaluation", bytes: 2 * evaluation });
  } else {
    parts.push({ name: "gradients", bytes: 2 * P * 4 });
    parts.push({ name: `activations of a batch of ${B.toLocaleString("en-US")}`, bytes: B * perExample });
    parts.push({ name: "evaluation", bytes: tfjsChunk * perExample });
  }
  parts.sort((a, b) => b.bytes - a.bytes);
  const total = parts.reduce((a, p) => a + p.bytes, 0);
  const tfjsBytes = engine === "fused" ? P * 4 : P * 4 * 3 + Math.max(B, tfjsChunk) * perExample;
  return { engine, parts, total, tfjsBytes };
}

/** Parameters above which a model is not built just to size its graph (it would not fit anyway). */
const GRAPH_SIZING_MAX_PARAMS = 100_000_000;

/**
 * Kernel memory of a sequence model's fused graph, training and evaluation,
 * as the graph lays it out: the model is built (its parameters only) and its
 * graph recorded with a counting allocator. Null when it has no graph, or is
 * too large to build for this.
 */
function graphMemory(
  config: ExperimentConfig,
  V: number,
  evalExamples: number,
): { train: number; evaluation: number } | null {
  const spec = findModel(config.model);
  if (!spec || config.batchSize < 1 || spec.parameterCount(config, V) > GRAPH_SIZING_MAX_PARAMS) return null;
  quietDefaultBackend(); // the estimate may come before the backend is chosen
  const model = buildModel(config, V);
  try {
    if (!isGraphModel(model)) return null;
    const lines = evalLines(model, { n: evalExamples });
    return { train: graphBytes(model, config.batchSize, true), evaluation: graphBytes(model, lines, false) };
  } finally {
    model.dispose();
  }
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
