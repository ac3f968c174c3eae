/**
 * How a model kind presents itself to the rest of the lib: its name, what it
 * is, which examples it reads, which hyperparameters shape it, its defaults,
 * how to build it and how many parameters it has. Each model file exports
 * one {@link ModelSpec}; lib/models/registry.ts lists them.
 *
 * @module
 */
import type { ExampleKind } from "../data/examples";
import type { OptimizerKind } from "../optim/optimizers";
import type { Model } from "./model";

/** The hyperparameters that can shape a model. */
export interface ModelShape {
  /** context length (context models), or positions of a padded line (sequence models: set from the data) */
  blockSize: number;
  /** embedding dimension */
  nEmbd: number;
  /** hidden units per layer */
  nHidden: number;
  /** hidden layers (makemore.py's n_layer: transformer blocks) */
  nLayers: number;
  /** attention heads of a transformer (makemore.py's n_head; must divide nEmbd) */
  nHead: number;
  /** the second width of makemore.py's models (n_embd2: hidden state, MLP width) */
  nEmbd2: number;
}

/** The name of a shape hyperparameter. */
export type ShapeKey = keyof ModelShape;

/** Every shape hyperparameter, in column order. */
export const MODEL_SHAPE_KEYS: readonly ShapeKey[] = ["blockSize", "nEmbd", "nHidden", "nLayers", "nHead", "nEmbd2"];

/** Training settings a model kind may default differently (the bigram's one matrix wants a much larger step). */
export interface TrainingDefaults {
  /** learning rate */
  lr?: number;
  /** examples per step */
  batchSize?: number;
  /** update rule */
  optimizer?: OptimizerKind;
  /** AdamW's decoupled weight decay */
  weightDecay?: number;
}

/** One model kind. */
export interface ModelSpec {
  /** its name in configs, the CLI (`--model`) and checkpoints */
  readonly kind: string;
  /** one line for --help and the README */
  readonly description: string;
  /** what it reads: context windows, or whole padded lines */
  readonly examples: ExampleKind;
  /** the shape hyperparameters it uses (the others do not change it) */
  readonly uses: readonly ShapeKey[];
  /** its defaults, over the lib-wide ones */
  readonly defaults?: Partial<ModelShape> & TrainingDefaults;
  /** shape values it cannot do without (the bigram reads 1 character) */
  readonly fixed?: Partial<ModelShape>;
  /** the smallest batch it trains on (2 with batch norm) */
  readonly minBatch?: number;
  /** a model with fresh parameters drawn from `seed` */
  build(shape: ModelShape, vocabSize: number, seed: number): Model;
  /** its parameter count, without building it */
  parameterCount(shape: ModelShape, vocabSize: number): number;
  /** why a shape cannot be built (one line for a ConfigError), or null when it can */
  validate?(shape: ModelShape): string | null;
}
