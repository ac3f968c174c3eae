/**
 * The configuration of one training run (a model and how to train it), in
 * the spirit of makemore.py's config object: every hyperparameter with its
 * command-line flag, its default and a check of its value, plus the number of
 * parameters a configuration gives, worked out without building the model.
 *
 * Which keys a model uses, its defaults and its parameter count come from
 * its {@link ModelSpec} in lib/models/registry.ts.
 *
 * @module
 */
import { findModel, MODEL_KINDS } from "../models/registry";
import { MODEL_SHAPE_KEYS, type ModelShape, type ModelSpec } from "../models/spec";
import { OPTIMIZER_KINDS, type OptimizerKind } from "../optim/optimizers";

/** The name of a registered model kind (see lib/models/registry.ts). */
export type ModelKind = string;

/** One training run's hyperparameters. */
export interface ExperimentConfig extends ModelShape {
  /** a registered model kind: bigram, mlp, mlp-bn, deep, trigram, ... */
  model: ModelKind;
  /** examples per training step */
  batchSize: number;
  /** learning rate */
  lr: number;
  /** the update rule: "sgd" (the lectures) or "adamw" (makemore.py) */
  optimizer: OptimizerKind;
  /** AdamW's decoupled weight decay (SGD: decay per step, usually 0) */
  weightDecay: number;
  /** from this step on the learning rate is lr / 10; 0 keeps it constant */
  lrDecayStep: number;
  /** training steps in all */
  maxSteps: number;
  /** evaluate (and log a row, and maybe save the checkpoint) every this many steps */
  evalEvery: number;
  /** stop after this many evaluations without a better val loss; 0 never stops early */
  earlyStop: number;
  /** stop as soon as the val loss is at or below this; null never */
  targetLoss: number | null;
  /** seed of the parameter initialization and (derived from it) of the minibatches and the evaluation sample */
  seed: number;
  /**
   * lines of the training split whose loss each evaluation estimates, drawn
   * once from the seed; "all" for every line (up to the evaluation cap, as
   * before this setting existed). The val split is always evaluated whole.
   */
  evalLines: number | "all";
}

/** Names of the hyperparameters, in column order. */
export type HyperKey = keyof ExperimentConfig;

/** An error in a configuration, a flag value or a grid file, with a message meant to be shown as is. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Refusal to build a model with more parameters than allowed. */
export class ParameterLimitError extends Error {
  /** parameters of the model asked for */
  readonly params: number;
  /** the ceiling */
  readonly maxParams: number;

  constructor(params: number, maxParams: number, what = "the model") {
    super(
      `${what} has ${params.toLocaleString("en-US")} parameters, more than --max-params ${maxParams.toLocaleString("en-US")}`,
    );
    this.name = "ParameterLimitError";
    this.params = params;
    this.maxParams = maxParams;
  }
}

/** How a hyperparameter is spelled, checked and explained. */
export interface HyperSpec {
  /** the config key, also its name in grid files and results tables */
  key: HyperKey;
  /** the command-line flag, e.g. "--n-embd" */
  flag: string;
  /** what the value is, for --help */
  help: string;
  /** placeholder of the value in --help */
  placeholder: string;
  /** a second spelling of the flag (makemore.py's "--n-layer" for "--n-layers") */
  alias?: string;
  /** checks and converts a value from a flag (a string) or a grid file (a JSON value) */
  parse(raw: unknown): ExperimentConfig[HyperKey];
}

function asNumber(raw: unknown): number {
  if (typeof raw === "number") return raw;
  if (typeof raw === "string" && raw.trim() !== "" && !/^0x/i.test(raw.trim())) return Number(raw);
  return NaN;
}

/** Seeds are taken modulo 2^32 by the generators: a larger one would repeat a smaller one's run. */
export const MAX_SEED = 2 ** 32 - 1;

function intParser(min: number, what: string, max = Number.MAX_SAFE_INTEGER): (raw: unknown) => number {
  return (raw) => {
    const v = asNumber(raw);
    if (Number.isInteger(v) && v > max) {
      throw new ConfigError(`must be at most ${max.toLocaleString("en-US")}, got ${JSON.stringify(raw)}`);
    }
    if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(`must be ${what}, got ${JSON.stringify(raw)}`);
    return v;
  };
}

function positiveNumber(raw: unknown): number {
  const v = asNumber(raw);
  if (!Number.isFinite(v) || v <= 0) throw new ConfigError(`must be a positive number, got ${JSON.stringify(raw)}`);
  return v;
}

/** Every hyperparameter, in column order. */
export const HYPERPARAMETERS: readonly HyperSpec[] = [
  {
    key: "model",
    flag: "--model",
    placeholder: "kind",
    help: `model: ${MODEL_KINDS.join(", ")} (default mlp)`,
    parse: (raw) => {
      if (typeof raw === "string" && findModel(raw)) return raw;
      throw new ConfigError(`must be one of ${MODEL_KINDS.join(", ")}, got ${JSON.stringify(raw)}`);
    },
  },
  {
    key: "blockSize",
    flag: "--block-size",
    placeholder: "n",
    help: "characters of context (default 3; bigram: 1; sequence models: the longest line + 1)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "nEmbd",
    flag: "--n-embd",
    placeholder: "n",
    help: "embedding dimension (default 10)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "nHidden",
    flag: "--n-hidden",
    placeholder: "n",
    help: "hidden units per layer (default 200; deep: 100)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "nLayers",
    flag: "--n-layers",
    alias: "--n-layer",
    placeholder: "n",
    help: "hidden layers of the deep model, blocks of the transformer (default 5; transformer: 4)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "nHead",
    flag: "--n-head",
    placeholder: "n",
    help: "attention heads of the transformer; must divide --n-embd (default 4)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "nEmbd2",
    flag: "--n-embd2",
    placeholder: "n",
    help: "second width of makemore.py's models: hidden state (rnn, gru), MLP width (bow, makemore-mlp) (default 64)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "batchSize",
    flag: "--batch-size",
    placeholder: "n",
    help: "examples per step (default 32)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "lr",
    flag: "--lr",
    placeholder: "rate",
    help: "learning rate (default 0.1 with sgd, 5e-4 with adamw; bigram: 10)",
    parse: positiveNumber,
  },
  {
    key: "optimizer",
    flag: "--optimizer",
    placeholder: "kind",
    help: `update rule: ${OPTIMIZER_KINDS.join(", ")} (default sgd)`,
    parse: (raw) => {
      if (typeof raw === "string" && (OPTIMIZER_KINDS as readonly string[]).includes(raw)) return raw as OptimizerKind;
      throw new ConfigError(`must be one of ${OPTIMIZER_KINDS.join(", ")}, got ${JSON.stringify(raw)}`);
    },
  },
  {
    key: "weightDecay",
    flag: "--weight-decay",
    placeholder: "wd",
    help: "decoupled weight decay (default 0.01 with adamw, 0 with sgd)",
    parse: (raw) => {
      const v = asNumber(raw);
      if (!Number.isFinite(v) || v < 0)
        throw new ConfigError(`must be a non-negative number, got ${JSON.stringify(raw)}`);
      return v;
    },
  },
  {
    key: "lrDecayStep",
    flag: "--lr-decay-step",
    placeholder: "step",
    help: "from this step on use lr / 10 (default 0: never)",
    parse: intParser(0, "a non-negative integer"),
  },
  {
    key: "maxSteps",
    flag: "--max-steps",
    placeholder: "n",
    help: "training steps (default 10000)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "evalEvery",
    flag: "--eval-every",
    placeholder: "n",
    help: "evaluate, log and keep the best checkpoint every n steps (default 500)",
    parse: intParser(1, "a positive integer"),
  },
  {
    key: "earlyStop",
    flag: "--early-stop",
    placeholder: "n",
    help: "stop after n evaluations without a better val loss (default 0: never)",
    parse: intParser(0, "a non-negative integer"),
  },
  {
    key: "targetLoss",
    flag: "--target-loss",
    placeholder: "loss",
    help: "stop when the val loss reaches this value (default: none)",
    parse: (raw) => (raw === null ? null : positiveNumber(raw)),
  },
  {
    key: "seed",
    flag: "--seed",
    placeholder: "n",
    help: "seed of the initialization and of the minibatches, 0 to 4294967295 (default 2147483647)",
    parse: intParser(0, "a non-negative integer", MAX_SEED),
  },
  {
    key: "evalLines",
    flag: "--eval-lines",
    placeholder: "n|all",
    help:
      "lines of the training split whose loss each evaluation estimates, a sample fixed by --seed (default 1000, " +
      "about makemore.py's; all: every line up to 25,000 examples, the figures of earlier versions)",
    parse: (raw) => (raw === "all" ? "all" : intParser(1, 'a positive integer or "all"')(raw)),
  },
];

/** The hyperparameter names, in column order. */
export const HYPER_KEYS: readonly HyperKey[] = HYPERPARAMETERS.map((h) => h.key);

/** Defaults shared by every model. */
export const DEFAULT_EXPERIMENT_CONFIG: Readonly<ExperimentConfig> = Object.freeze({
  model: "mlp",
  blockSize: 3,
  nEmbd: 10,
  nHidden: 200,
  nLayers: 5,
  nHead: 4,
  nEmbd2: 64,
  batchSize: 32,
  lr: 0.1,
  optimizer: "sgd",
  weightDecay: 0,
  lrDecayStep: 0,
  maxSteps: 10000,
  evalEvery: 500,
  earlyStop: 0,
  targetLoss: null,
  seed: 2147483647,
  evalLines: 1000,
});

/** Defaults of AdamW runs (makemore.py's learning rate and weight decay). */
export const ADAMW_DEFAULTS: Readonly<Pick<ExperimentConfig, "lr" | "weightDecay">> = Object.freeze({
  lr: 5e-4,
  weightDecay: 0.01,
});

/** The spec of a kind that resolveConfig has checked. */
function specOf(kind: string): ModelSpec {
  const spec = findModel(kind);
  if (!spec) throw new ConfigError(`unknown model '${kind}'; the models are ${MODEL_KINDS.join(", ")}`);
  return spec;
}

/**
 * Finds the hyperparameter a name means: the config key ("nEmbd"), the flag
 * ("--n-embd") or the flag without dashes ("n-embd"). Returns null for anything else.
 */
export function hyperSpec(name: string): HyperSpec | null {
  const bare = name.replace(/^--/, "");
  return HYPERPARAMETERS.find((h) => h.key === name || h.flag === name || h.flag.slice(2) === bare) ?? null;
}

/**
 * Checks one hyperparameter value.
 * @param source - where the value came from, for the message (e.g. "grid.json").
 * @throws ConfigError naming the hyperparameter and what is wrong.
 */
export function parseHyperValue(key: HyperKey, raw: unknown, source?: string): ExperimentConfig[HyperKey] {
  const spec = HYPERPARAMETERS.find((h) => h.key === key);
  if (!spec) throw new ConfigError(`unknown hyperparameter '${key}'`);
  try {
    return spec.parse(raw);
  } catch (e) {
    throw new ConfigError(`${source ? source + ": " : ""}${key} ${(e as Error).message}`);
  }
}

/**
 * A full configuration: the defaults, then the model's own defaults, then
 * `partial`. Every value is checked; bigram models get block size 1.
 *
 * @throws ConfigError for an unknown key, a bad value, or an impossible combination.
 */
export function resolveConfig(
  given: Readonly<Partial<ExperimentConfig>> | Readonly<Record<string, unknown>>,
  source?: string,
): ExperimentConfig {
  const partial = given as Readonly<Record<string, unknown>>;
  const where = source ? source + ": " : "";
  for (const k of Object.keys(partial)) {
    if (!(HYPER_KEYS as readonly string[]).includes(k)) throw new ConfigError(`${where}unknown hyperparameter '${k}'`);
  }
  const model = parseHyperValue("model", partial.model ?? DEFAULT_EXPERIMENT_CONFIG.model, source) as ModelKind;
  const spec = specOf(model);
  const optimizer = partial.optimizer ?? spec.defaults?.optimizer ?? DEFAULT_EXPERIMENT_CONFIG.optimizer;
  const merged: Record<string, unknown> = {
    ...DEFAULT_EXPERIMENT_CONFIG,
    ...(optimizer === "adamw" ? ADAMW_DEFAULTS : {}),
    ...kindDefaults(spec, optimizer),
  };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) merged[k] = v;
  const out = {} as Record<HyperKey, unknown>;
  for (const key of HYPER_KEYS) out[key] = parseHyperValue(key, merged[key], source);
  const config = out as unknown as ExperimentConfig;
  applyFixed(spec, config, partial, where);
  if (config.lr * config.weightDecay >= 1) {
    throw new ConfigError(
      `${where}weightDecay ${config.weightDecay} times lr ${config.lr} must be below 1: each step scales the weights by 1 - lr·weightDecay`,
    );
  }
  const invalid = spec.validate?.(config) ?? null;
  if (invalid !== null) throw new ConfigError(`${where}the ${spec.kind} model: ${invalid}`);
  if (spec.minBatch !== undefined && config.batchSize < spec.minBatch) {
    throw new ConfigError(`${where}batch normalization (${config.model}) needs batchSize of at least ${spec.minBatch}`);
  }
  return config;
}

/** A kind's defaults; a kind tuned for SGD keeps its rate (the bigram's 10) out of an AdamW run. */
function kindDefaults(spec: ModelSpec, optimizer: unknown): Readonly<Record<string, unknown>> {
  const defaults: Record<string, unknown> = { ...spec.defaults };
  if (optimizer === "adamw" && spec.defaults?.optimizer !== "adamw") {
    delete defaults.lr;
    delete defaults.weightDecay;
  }
  return defaults;
}

/** Sets the shape values a model cannot do without; refuses another value given on purpose. */
function applyFixed(
  spec: ModelSpec,
  config: ExperimentConfig,
  given: Readonly<Record<string, unknown>>,
  where: string,
): void {
  for (const [key, value] of Object.entries(spec.fixed ?? {}) as [keyof ModelShape, number][]) {
    if (config[key] === value) continue;
    if (given[key] !== undefined) {
      const what = key === "blockSize" ? `reads ${value} character of context; blockSize` : `needs ${key} ${value};`;
      throw new ConfigError(`${where}the ${spec.kind} model ${what} ${config[key]} is not possible`);
    }
    config[key] = value;
  }
}

/**
 * Parameters of a model with this configuration and vocabulary size, without
 * building it (11,897 for the lecture-2 MLP on names).
 */
export function parameterCount(config: Pick<ExperimentConfig, "model"> & ModelShape, vocabSize: number): number {
  return specOf(config.model).parameterCount(config, vocabSize);
}

/** Hyperparameters a model does not use (two configurations that differ only in these train the same model). */
export function unusedKeys(kind: ModelKind): readonly HyperKey[] {
  const spec = specOf(kind);
  return MODEL_SHAPE_KEYS.filter((k) => !spec.uses.includes(k) && !(spec.examples === "context" && k === "blockSize"));
}

/** A string that is equal for two configurations exactly when they train the same way (unused keys left out). */
export function configIdentity(config: ExperimentConfig): string {
  const unused = unusedKeys(config.model);
  return JSON.stringify(HYPER_KEYS.filter((k) => !unused.includes(k)).map((k) => [k, config[k]]));
}

/** The config keys that fix the model's shape (the others only change how it is trained). */
export const SHAPE_KEYS: readonly HyperKey[] = ["model", ...MODEL_SHAPE_KEYS];

const SHAPE_LABELS: Readonly<Record<keyof ModelShape, string>> = {
  blockSize: "block",
  nEmbd: "embd",
  nHidden: "hidden",
  nLayers: "layers",
  nHead: "heads",
  nEmbd2: "embd2",
};

/** A short description of a configuration's model, e.g. "mlp block 3, embd 10, hidden 200". */
export function describeModel(config: ExperimentConfig): string {
  const spec = specOf(config.model);
  const keys = MODEL_SHAPE_KEYS.filter(
    (k) => spec.uses.includes(k) || (k === "blockSize" && spec.examples === "context" && !spec.fixed?.blockSize),
  );
  const parts = keys.map((k) => `${SHAPE_LABELS[k]} ${config[k]}`);
  return parts.length > 0 ? `${config.model} ${parts.join(", ")}` : config.model;
}
