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
import { bowSpec } from "./bow";
import { makemoreMlpSpec } from "./makemore-mlp";
import { makemoreBigramSpec } from "./makemore-bigram";

/** The registered model kinds: the lectures' in their order, then makemore.py's (transformer first, as its default). */
export const MODELS: readonly ModelSpec[] = [
  bigramSpec,
  mlpSpec,
  mlpBnSpec,
  deepSpec,
  trigramSpec,
  transformerSpec,
  gruSpec,
  rnnSpec,
  bowSpec,
  makemoreMlpSpec,
  makemoreBigramSpec,
];

/** The names of the registered kinds. */
export const MODEL_KINDS: readonly string[] = MODELS.map((m) => m.kind);

/** The spec of a kind, or null when no model of that name is registered. */
export function findModel(kind: string): ModelSpec | null {
  return MODELS.find((m) => m.kind === kind) ?? null;
}
