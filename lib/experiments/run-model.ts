/**
 * Models of runs: built from a configuration, saved with it, and loaded
 * back from a run folder or a checkpoint file.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import type { Vocab as VocabType } from "../data/vocab";
import { Vocab } from "../data/vocab";
import type { Model } from "../models/model";
import { findModel } from "../models/registry";
import { tf } from "../runtime/tf";
import {
  CheckpointError,
  loadTensorsInto,
  modelTensors,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
} from "./checkpoint";
import { ConfigError, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { RUN_FILES, type CheckpointMeta } from "./run-files";

/**
 * Builds the model a configuration describes (its kind's {@link ModelSpec}),
 * with fresh parameters drawn from `config.seed`.
 */
export function buildModel(config: ExperimentConfig, vocabSize: number): Model {
  const spec = findModel(config.model);
  if (!spec) throw new ConfigError(`unknown model '${config.model}'`);
  // tidy frees any temporary tensor a constructor leaves behind; variables survive it
  let model: Model | null = null;
  tf.tidy(() => {
    model = spec.build(config, vocabSize, config.seed);
  });
  return model as unknown as Model;
}

/** A model loaded from a checkpoint, ready to sample or evaluate. */
export interface LoadedRun {
  /** the model, weights loaded (dispose it when done) */
  model: Model;
  /** its vocabulary */
  vocab: Vocab;
  /** the configuration it was built with */
  config: ExperimentConfig;
  /** step, losses and tag of the checkpoint */
  meta: CheckpointMeta;
}

/**
 * Loads a checkpoint written by an experiment: from a run folder (its
 * model.ckpt) or a checkpoint file.
 *
 * @example
 * ```ts
 * const run = loadRun("runs/mlp");
 * console.log(sampleFromModel(run.model, run.vocab, 10));
 * run.model.dispose();
 * ```
 * @throws CheckpointError when the file is missing, truncated, corrupted or does not fit its config.
 */
export function loadRun(dirOrFile: string): LoadedRun {
  const isDir = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory();
  const file = isDir ? path.join(dirOrFile, RUN_FILES.best) : dirOrFile;
  const ckpt = readCheckpoint<unknown, CheckpointMeta>(file);
  return modelFromCheckpoint(ckpt, file);
}

function modelFromCheckpoint(ckpt: Checkpoint<unknown, CheckpointMeta>, file: string): LoadedRun {
  let config: ExperimentConfig;
  let vocab: Vocab;
  try {
    config = resolveConfig((ckpt.config ?? {}) as Record<string, unknown>);
    vocab = Vocab.fromJSON(ckpt.vocab);
  } catch (e) {
    throw new CheckpointError(`${file} has a bad configuration or vocabulary: ${(e as Error).message}`);
  }
  const model = buildModel(config, vocab.size);
  try {
    loadTensorsInto(model, ckpt.tensors, file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, vocab, config, meta: ckpt.meta };
}

/** Saves a model with its configuration, vocabulary and meta data (atomically, checksummed). */
export function saveRunCheckpoint(
  file: string,
  model: Model,
  config: ExperimentConfig,
  vocab: VocabType,
  meta: CheckpointMeta,
): void {
  writeCheckpoint(file, { config, vocab: vocab.toJSON(), meta, tensors: modelTensors(model) });
}
