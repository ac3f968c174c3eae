/**
 * A challenge answer kept in a file: the trained model (its kind, sizes and
 * every parameter and buffer), how long it trained, and the validation loss
 * reported for it. The worked solutions write theirs in full mode, and the
 * tests check that the check accepts them (scripts/fixtures/exercise-answers.js
 * copies them into test/fixtures/).
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { HierarchicalMLP, type HierarchicalConfig } from "../models/hierarchical";
import { MLP, type MlpConfig } from "../models/mlp";
import { modelState } from "../models/model";
import { writeFileAtomic } from "../runtime/files";
import { tf } from "../runtime/tf";
import type { ChallengeAnswer } from "./challenge";

/** What an answer file holds. */
interface SavedAnswer {
  /** the model's class and the configuration it is rebuilt from */
  model: { kind: "MLP"; config: MlpConfig } | { kind: "HierarchicalMLP"; config: HierarchicalConfig };
  steps: number;
  batchSize: number;
  val: number;
  /** parameters then buffers, each as the base64 of its float32 values */
  state: { shape: number[]; values: string }[];
}

function describeModel(model: ChallengeAnswer["model"]): SavedAnswer["model"] {
  if (model instanceof HierarchicalMLP) return { kind: "HierarchicalMLP", config: model.config };
  if (model instanceof MLP) {
    const { vocabSize, blockSize, nEmbd, nHidden, batchNorm, bnMomentum, bnEps } = model;
    return { kind: "MLP", config: { vocabSize, blockSize, nEmbd, nHidden, batchNorm, bnMomentum, bnEps } };
  }
  throw new RangeError("only an MLP or a HierarchicalMLP can be saved as an answer");
}

/** Writes a challenge answer to `file` (JSON, replaced atomically). */
export function saveChallengeAnswer(file: string, answer: ChallengeAnswer): void {
  const saved: SavedAnswer = {
    model: describeModel(answer.model),
    steps: answer.steps,
    batchSize: answer.batchSize,
    val: answer.val,
    state: modelState(answer.model).map((v) => ({
      shape: [...v.shape],
      values: Buffer.from(Float32Array.from(v.dataSync()).buffer).toString("base64"),
    })),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, JSON.stringify(saved) + "\n");
}

/** Reads an answer written by {@link saveChallengeAnswer}: the model is rebuilt and its state loaded. */
export function loadChallengeAnswer(file: string): ChallengeAnswer {
  const saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedAnswer;
  const model = saved.model.kind === "MLP" ? new MLP(saved.model.config) : new HierarchicalMLP(saved.model.config);
  const state = modelState(model);
  if (state.length !== saved.state.length) {
    model.dispose();
    throw new RangeError(`${file} holds ${saved.state.length} tensors; the model has ${state.length}`);
  }
  tf.tidy(() =>
    state.forEach((v, i) => {
      const { shape, values } = saved.state[i]!;
      const bytes = Uint8Array.from(Buffer.from(values, "base64")); // a copy, aligned for float32
      v.assign(tf.tensor(new Float32Array(bytes.buffer), shape));
    }),
  );
  return { model, steps: saved.steps, batchSize: saved.batchSize, val: saved.val };
}
