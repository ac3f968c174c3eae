/**
 * Every model kind the configs, the CLI, grids and checkpoints know. Adding
 * a model is one file exporting a {@link ModelSpec} and one line here.
 *
 * @module
 */
import { deepSpec } from "./deep";
import { mlpBnSpec, mlpSpec } from "./mlp";
import { bigramSpec } from "./nn-bigram";
import type { ModelSpec } from "./spec";
import { trigramSpec } from "./trigram";
import { transformerSpec } from "./transformer";
import { gruSpec, rnnSpec } from "./rnn";

/** The registered model kinds, in the order of the lectures. */
export const MODELS: readonly ModelSpec[] = [
  bigramSpec,
  mlpSpec,
  mlpBnSpec,
  deepSpec,
  trigramSpec,
  transformerSpec,
  gruSpec,
  rnnSpec,
];

/** The names of the registered kinds. */
export const MODEL_KINDS: readonly string[] = MODELS.map((m) => m.kind);

/** The spec of a kind, or null when no model of that name is registered. */
export function findModel(kind: string): ModelSpec | null {
  return MODELS.find((m) => m.kind === kind) ?? null;
}
