/**
 * Lecture 3's deeper network, built from the layers of {@link "layers"}:
 *
 *     emb = C[X].view(B, -1)                      [B, blockSize * nEmbd]
 *     Linear(blockSize * nEmbd, nHidden) + BatchNorm1d + Tanh
 *     (nLayers - 1) x [Linear(nHidden, nHidden) + BatchNorm1d + Tanh]
 *     Linear(nHidden, vocabSize) + BatchNorm1d  -> logits
 *
 * With the defaults (vocab 27, block 3, nEmbd 10, nHidden 100, 5 hidden
 * blocks) it has 47,024 parameters. Without batch norm the Linear layers
 * get biases and the last BatchNorm1d is left out (the lecture's first
 * experiment). Initialization follows the lecture: every Linear starts at
 * `randn / sqrt(fanIn)`; the last layer is made less confident by
 * `lastGamma` (the last BatchNorm1d's gamma, or without batch norm the last
 * Linear's weight); then every Linear of `layers[:-1]` is multiplied by
 * `weightGain` (5/3 for tanh: Kaiming). With batch norm that list ends
 * with the last Linear, so it gets the gain too; without, it does not.
 *
 * As in lecture 3, `layers` is the list after the embedding, so
 * `layers[2]` is the first Tanh.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import {
  BatchNorm1d,
  DEFAULT_LAYER_SEED,
  Embedding,
  Flatten,
  Linear,
  Tanh,
  runLayers,
  scaleVariable,
  setKeepOutputs,
  setTraining,
  type Layer,
  type LayerHook,
} from "../nn/layers";
import { applyAll, type Ops } from "../nn/ops-interface";
import type { LanguageModel, OpsModel } from "./model";
import type { ModelSpec } from "./spec";
import { Generator } from "../random/generator";

/** Configuration of a {@link DeepMLP}. */
export interface DeepConfig {
  /** size of the vocabulary (27 for names) */
  vocabSize: number;
  /** characters of context (default 3) */
  blockSize?: number;
  /** embedding dimension (default 10) */
  nEmbd?: number;
  /** units of each hidden layer (default 100) */
  nHidden?: number;
  /** hidden Linear(+BatchNorm1d)+Tanh blocks (default 5) */
  nLayers?: number;
  /** batch-normalize after every Linear (default true) */
  batchNorm?: boolean;
  /** factor on the last layer at init: BatchNorm1d gamma, or Linear weight without batch norm (default 0.1) */
  lastGamma?: number;
  /** factor on the Linear weights of `layers[:-1]` at init, the Kaiming gain (default 5/3) */
  weightGain?: number;
  /** seed of the generator that draws every parameter (default 2147483647) */
  seed?: number;
  /** momentum of the BatchNorm1d running statistics (default 0.1) */
  bnMomentum?: number;
  /** BatchNorm1d epsilon (default 1e-5) */
  bnEps?: number;
}

/** A {@link DeepConfig} with every default filled in. */
export type ResolvedDeepConfig = Required<DeepConfig>;

/** Fills in the defaults of a {@link DeepConfig}. */
export function resolveDeepConfig(config: DeepConfig): ResolvedDeepConfig {
  return {
    vocabSize: config.vocabSize,
    blockSize: config.blockSize ?? 3,
    nEmbd: config.nEmbd ?? 10,
    nHidden: config.nHidden ?? 100,
    nLayers: config.nLayers ?? 5,
    batchNorm: config.batchNorm ?? true,
    lastGamma: config.lastGamma ?? 0.1,
    weightGain: config.weightGain ?? 5 / 3,
    seed: config.seed ?? DEFAULT_LAYER_SEED,
    bnMomentum: config.bnMomentum ?? 0.1,
    bnEps: config.bnEps ?? 1e-5,
  };
}

/**
 * Parameters of a deep network with this configuration, without building it
 * (47,024 for the defaults with vocabulary 27).
 */
export function deepParameterCount(config: DeepConfig): number {
  const c = resolveDeepConfig(config);
  const bias = c.batchNorm ? 0 : 1;
  const bn = c.batchNorm ? 2 : 0;
  let n = c.vocabSize * c.nEmbd;
  let fanIn = c.blockSize * c.nEmbd;
  for (let i = 0; i < c.nLayers; i++) {
    n += fanIn * c.nHidden + (bias + bn) * c.nHidden;
    fanIn = c.nHidden;
  }
  return n + fanIn * c.vocabSize + (bias + bn) * c.vocabSize;
}

/** The lecture-3 deep network as a {@link LanguageModel} (see the module comment). */
export class DeepMLP implements LanguageModel, OpsModel {
  /** the configuration, defaults filled in */
  readonly config: ResolvedDeepConfig;
  /** characters of context */
  readonly blockSize: number;
  /** size of the vocabulary */
  readonly vocabSize: number;
  /** the embedding table layer (its weight is the lecture's C) */
  readonly embedding: Embedding;
  /** concatenates the context embeddings */
  readonly flatten: Flatten;
  /** the layers after the embedding, as in lecture 3 (`layers[2]` is the first Tanh) */
  readonly layers: Layer[];
  private mode = true;

  constructor(config: DeepConfig) {
    const c = resolveDeepConfig(config);
    if (!Number.isInteger(c.nLayers) || c.nLayers < 1)
      throw new RangeError(`nLayers must be at least 1, got ${c.nLayers}`);
    this.config = c;
    this.blockSize = c.blockSize;
    this.vocabSize = c.vocabSize;
    const generator = new Generator(c.seed);
    this.embedding = new Embedding(c.vocabSize, c.nEmbd, { generator });
    this.flatten = new Flatten();
    const bnOptions = { eps: c.bnEps, momentum: c.bnMomentum };
    const layers: Layer[] = [];
    let fanIn = c.blockSize * c.nEmbd;
    for (let i = 0; i < c.nLayers; i++) {
      layers.push(new Linear(fanIn, c.nHidden, { bias: !c.batchNorm, generator }));
      if (c.batchNorm) layers.push(new BatchNorm1d(c.nHidden, bnOptions));
      layers.push(new Tanh());
      fanIn = c.nHidden;
    }
    const last = new Linear(fanIn, c.vocabSize, { bias: !c.batchNorm, generator });
    layers.push(last);
    const lastBn = c.batchNorm ? new BatchNorm1d(c.vocabSize, bnOptions) : null;
    if (lastBn) layers.push(lastBn);
    this.layers = layers;
    // the lecture's `with torch.no_grad():` block
    if (lastBn) scaleVariable(lastBn.gamma, c.lastGamma);
    else scaleVariable(last.weight, c.lastGamma);
    // the lecture scales `layers[:-1]`: with batch norm that includes the last Linear
    for (const layer of layers.slice(0, -1)) {
      if (layer instanceof Linear && c.weightGain !== 1) scaleVariable(layer.weight, c.weightGain);
    }
  }

  /** the embedding table [vocab, nEmbd] (the lecture's C) */
  get C(): tfjs.Variable<tfjs.Rank.R2> {
    return this.embedding.weight;
  }

  /** whether the last forward ran in training mode (the layers' `training` flags) */
  get training(): boolean {
    return this.mode;
  }

  /** `[C, ...every layer's parameters]`, as in the lecture */
  parameters(): tfjs.Variable[] {
    return [this.C, ...this.layers.flatMap((l) => l.parameters())];
  }

  /** the running-statistics buffers of the BatchNorm1d layers */
  buffers(): tfjs.Variable[] {
    return this.layers.flatMap((l) => (l instanceof BatchNorm1d ? l.buffers() : []));
  }

  /** sets `training` on every layer (default true); returns this */
  train(mode = true): this {
    this.mode = mode;
    setTraining([this.embedding, this.flatten, ...this.layers], mode);
    return this;
  }

  /** evaluation mode: running statistics in batch norm */
  eval(): this {
    return this.train(false);
  }

  /**
   * Keeps (or stops keeping and frees) every layer's output in `layer.out`,
   * for the lecture's loops over `layers`.
   */
  keepOutputs(on: boolean): void {
    setKeepOutputs([this.embedding, this.flatten, ...this.layers], on);
  }

  /**
   * Logits [B, vocab] for int32 contexts [B, blockSize]. `training` sets the
   * layers' mode first (batch statistics and running-stat updates, or
   * running statistics). `hook` sees the output of each of `layers`. Like
   * any tfjs computation, call it inside `tf.tidy` (or dispose the result):
   * intermediate tensors belong to the caller's scope.
   */
  forward(X: tfjs.Tensor2D, training: boolean, hook?: LayerHook): tfjs.Tensor2D {
    if (training !== this.mode) this.train(training);
    if (X.shape[1] !== this.blockSize) {
      throw new RangeError(`expected contexts of ${this.blockSize} tokens, got shape [${X.shape.join(", ")}]`);
    }
    const emb = this.flatten.forward(this.embedding.forward(X));
    return runLayers(this.layers, emb, hook) as tfjs.Tensor2D;
  }

  /** The same layers over any ops: the fused engine records them as a graph. */
  logits<V>(o: Ops<V>): V {
    return applyAll(o, [this.embedding, this.flatten, ...this.layers], o.tokens);
  }

  /** Why the fused engine cannot run the model now: it keeps no tensors, so not while layers keep their outputs. */
  fusedUnavailable(): string | null {
    const all = [this.embedding, this.flatten, ...this.layers];
    return all.some((l) => l.keepOutput) ? "the model cannot be fused while it records its activations" : null;
  }

  /** frees every variable, buffer and kept output */
  dispose(): void {
    this.embedding.dispose();
    this.flatten.dispose();
    for (const l of this.layers) l.dispose();
  }
}

/** Lecture 3's deep network: `--model deep`. */
export const deepSpec: ModelSpec = {
  kind: "deep",
  description: "lecture 3's deep network: nLayers of Linear, BatchNorm1d and tanh",
  examples: "context",
  uses: ["blockSize", "nEmbd", "nHidden", "nLayers"],
  defaults: { nHidden: 100 },
  minBatch: 2,
  build: ({ blockSize, nEmbd, nHidden, nLayers }, vocabSize, seed) =>
    new DeepMLP({ vocabSize, blockSize, nEmbd, nHidden, nLayers, seed }),
  parameterCount: ({ blockSize, nEmbd, nHidden, nLayers }, vocabSize) =>
    deepParameterCount({ vocabSize, blockSize, nEmbd, nHidden, nLayers }),
};
