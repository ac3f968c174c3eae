/**
 * Lecture 5's WaveNet-like network: an embedding, then groups of
 * `FlattenConsecutive(n) → Linear (no bias) → BatchNorm1d → Tanh` that merge
 * neighbouring positions level by level, then a Linear to the logits.
 *
 *     X                     [B, 8]
 *     Embedding             [B, 8, nEmbd]
 *     FlattenConsecutive(2) [B, 4, 2·nEmbd]  → Linear, BatchNorm1d, Tanh → [B, 4, nHidden]
 *     FlattenConsecutive(2) [B, 2, 2·nHidden] → ...                     → [B, 2, nHidden]
 *     FlattenConsecutive(2) [B, 2·nHidden]    → ...                     → [B, nHidden]
 *     Linear                [B, vocab]
 *
 * With `groups: [blockSize]` it is the flat MLP of lectures 2-3 in the same
 * layer API. Weights come from a `TorchGenerator` seeded like the lecture's
 * `torch.manual_seed(42)`, in the lecture's order, so the initial network is
 * the lecture's; the same generator can then draw the minibatches.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import {
  BatchNorm1d,
  Embedding,
  FlattenConsecutive,
  Linear,
  scaleVariable,
  Sequential,
  Tanh,
  type Layer,
} from "../nn/layers";
import type { Ops } from "../nn/ops-interface";
import type { LanguageModel, OpsModel } from "./model";
import { TorchGenerator } from "../random/torch";

/** Configuration of a {@link HierarchicalMLP}. */
export interface HierarchicalConfig {
  /** size of the vocabulary (27 for names) */
  vocabSize: number;
  /** embedding dimension (default 24) */
  nEmbd?: number;
  /** units of each hidden level (default 128) */
  nHidden?: number;
  /** positions merged at each level (default [2, 2, 2]); their product is the block size */
  groups?: number[];
  /** seed of the TorchGenerator drawing the weights (default 42, the lecture's `torch.manual_seed(42)`) */
  seed?: number;
  /** factor on the last Linear's weight at init (default 0.1) */
  lastScale?: number;
  /** lecture 5's bug: batch norm statistics over dimension 0 only (default false) */
  batchNormBug?: boolean;
  /** momentum of the running statistics (default 0.1) */
  bnMomentum?: number;
}

/** A {@link HierarchicalConfig} with every default filled in. */
export type ResolvedHierarchicalConfig = Required<HierarchicalConfig>;

/** Fills in the defaults of a {@link HierarchicalConfig}. */
export function resolveHierarchicalConfig(config: HierarchicalConfig): ResolvedHierarchicalConfig {
  const groups = config.groups ?? [2, 2, 2];
  if (groups.length < 1 || groups.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`groups must be positive integers, got [${groups.join(", ")}]`);
  }
  return {
    vocabSize: config.vocabSize,
    nEmbd: config.nEmbd ?? 24,
    nHidden: config.nHidden ?? 128,
    groups: [...groups],
    seed: config.seed ?? 42,
    lastScale: config.lastScale ?? 0.1,
    batchNormBug: config.batchNormBug ?? false,
    bnMomentum: config.bnMomentum ?? 0.1,
  };
}

/** Parameters of the network without building it (76,579 for the defaults with vocabulary 27). */
export function hierarchicalParameterCount(config: HierarchicalConfig): number {
  const c = resolveHierarchicalConfig(config);
  let n = c.vocabSize * c.nEmbd;
  let width = c.nEmbd;
  for (const g of c.groups) {
    n += width * g * c.nHidden + 2 * c.nHidden; // weight, then gamma and beta
    width = c.nHidden;
  }
  return n + width * c.vocabSize + c.vocabSize;
}

/** Builds the layers of the lecture's `Sequential`, drawing weights from `generator` in the lecture's order. */
function buildLayers(c: ResolvedHierarchicalConfig, generator: TorchGenerator): Layer[] {
  const layers: Layer[] = [new Embedding(c.vocabSize, c.nEmbd, { generator })];
  let width = c.nEmbd;
  let positions = c.groups.reduce((a, b) => a * b, 1);
  for (const g of c.groups) {
    positions /= g;
    // the bug only shows while positions remain: over [B, C] both forms agree
    const positionwise = c.batchNormBug && positions > 1 ? positions : undefined;
    layers.push(
      new FlattenConsecutive(g),
      new Linear(width * g, c.nHidden, { bias: false, generator }),
      new BatchNorm1d(c.nHidden, { momentum: c.bnMomentum, unbiasedNormalization: true, positionwise }),
      new Tanh(),
    );
    width = c.nHidden;
  }
  layers.push(new Linear(width, c.vocabSize, { generator }));
  return layers;
}

/** Lecture 5's network as a {@link LanguageModel} (see the module comment). */
export class HierarchicalMLP implements LanguageModel, OpsModel {
  /** the configuration, defaults filled in */
  readonly config: ResolvedHierarchicalConfig;
  /** characters of context: the product of the groups */
  readonly blockSize: number;
  /** size of the vocabulary */
  readonly vocabSize: number;
  /** the lecture's `model`: every layer, the embedding first */
  readonly net: Sequential;
  /**
   * The generator the weights were drawn from, left where the lecture's global
   * generator is after building the model: pass it to `train` to draw the
   * lecture's minibatches too.
   */
  readonly generator: TorchGenerator;

  constructor(config: HierarchicalConfig) {
    const c = resolveHierarchicalConfig(config);
    this.config = c;
    this.blockSize = c.groups.reduce((a, b) => a * b, 1);
    this.vocabSize = c.vocabSize;
    this.generator = new TorchGenerator(c.seed);
    this.net = new Sequential(buildLayers(c, this.generator));
    const last = this.net.layers[this.net.layers.length - 1] as Linear;
    scaleVariable(last.weight, c.lastScale); // a less confident start
  }

  /** the layers, as in the lecture's `model.layers` */
  get layers(): Layer[] {
    return this.net.layers;
  }

  /** every layer's parameters, in order */
  parameters(): tfjs.Variable[] {
    return this.net.parameters();
  }

  /** the running statistics of the batch norms */
  buffers(): tfjs.Variable[] {
    return this.layers.flatMap((l) => (l instanceof BatchNorm1d ? l.buffers() : []));
  }

  /** Logits [B, vocab] for int32 contexts [B, blockSize], in training or evaluation mode. */
  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor2D {
    if (X.shape[1] !== this.blockSize) {
      throw new RangeError(`expected contexts of ${this.blockSize} tokens, got shape [${X.shape.join(", ")}]`);
    }
    if (training !== this.net.training) this.net.train(training);
    return this.net.forward(X) as tfjs.Tensor2D;
  }

  /** The same layers over any ops: the fused engine records them as a graph (FlattenConsecutive merges rows). */
  logits<V>(o: Ops<V>): V {
    return this.net.apply(o, o.tokens);
  }

  /** Why the fused engine cannot run the model now: it keeps no tensors, so not while layers keep their outputs. */
  fusedUnavailable(): string | null {
    const keeps = this.net.keepOutput || this.layers.some((l) => l.keepOutput);
    return keeps ? "the model cannot be fused while it records its activations" : null;
  }

  /** frees every variable, buffer and kept output */
  dispose(): void {
    this.net.dispose();
  }
}
