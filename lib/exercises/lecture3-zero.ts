/**
 * Lecture 3's first exercise (notebook 04): the MLP with every weight and
 * bias initialized to zero. It trains, but only partly. The check trains
 * that network with the lib and compares the learner's account (which
 * parameters stay at zero, which learn) with what training did to each one.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { MLP } from "../models/mlp";
import { train } from "../training/train";
import { contextsOf, exerciseData, once } from "./data";
import {
  AnswerError,
  correct,
  defineAsyncCheck,
  field,
  fmt,
  incorrect,
  malformed,
  type Exercise,
  type Judgement,
} from "./check";

/** Exercise 3.1. */
export const ZERO_INIT: Exercise = { id: "3.1", title: "all weights and biases zero" };

/** The MLP's parameters, as the lecture names them. */
export const MLP_PARAMETERS = ["C", "W1", "b1", "W2", "b2"] as const;
/** One of {@link MLP_PARAMETERS}. */
export type MlpParameter = (typeof MLP_PARAMETERS)[number];

/** The zero-initialized MLP of the exercise: W1, b1, W2 and b2 all zero, C random. */
export function zeroInitMlp(): MLP {
  return new MLP({ vocabSize: exerciseData().vocab.size, init: { w1: 0, b1: 0, w2: 0, b2: 0 } });
}

/** Steps the check trains the zero-initialized network for. */
export const ZERO_INIT_STEPS = 300;

function parameterOf(model: MLP, name: MlpParameter): tfjs.Variable {
  const p = { C: model.C, W1: model.W1, b1: model.b1, W2: model.W2, b2: model.b2 }[name];
  if (!p) throw new Error(`the MLP has no ${name}`);
  return p;
}

/** What training does to each parameter of the zero-initialized MLP, and the loss it reaches. */
const zeroInitTruth = once(async () => {
  const model = zeroInitMlp();
  const before = MLP_PARAMETERS.map((n) => Float32Array.from(parameterOf(model, n).dataSync()));
  const run = await train(model, contextsOf("train", 3), { steps: ZERO_INIT_STEPS, lr: 0.1, progress: false });
  const after = MLP_PARAMETERS.map((n) => parameterOf(model, n).dataSync());
  model.dispose();
  const changed = new Set(MLP_PARAMETERS.filter((_, i) => after[i]!.some((v, j) => v !== before[i]![j])));
  const zero = new Set(MLP_PARAMETERS.filter((_, i) => after[i]!.every((v) => v === 0)));
  return { changed, zero, loss: run.losses[run.losses.length - 1]! };
});

/** The loss of predicting each token's frequency in the training split, whatever the context. */
const unigramLoss = once(() => {
  const { Y, n } = contextsOf("train", 3);
  const counts = new Float64Array(exerciseData().vocab.size);
  for (const y of Y) counts[y]! += 1;
  return -Array.from(counts).reduce((a, c) => (c > 0 ? a + (c / n) * Math.log(c / n) : a), 0);
});

/** Why a parameter stays at zero, or why it learns: the hint when the learner's list has it wrong. */
const REASONS: Readonly<Partial<Record<MlpParameter, string>>> = {
  W1: "W1's gradient is embᵀ · dhpre, and dhpre comes back through W2, which is zero",
  b1: "b1's gradient is the sum of dhpre, which comes back through W2, which is zero",
  W2: "W2's gradient is hᵀ · dlogits, and h = tanh(emb · W1 + b1) is tanh(0) = 0 while W1 and b1 are zero",
  b2: "b2's gradient is dlogits = probs - onehot(targets) summed over the batch: not zero while the predictions are uniform and the targets are not",
};

/** The hint for a parameter the learner placed wrongly. */
function reasonFor(name: MlpParameter, saidZero: boolean, truth: { zero: Set<string>; changed: Set<string> }): string {
  const generic = `look at ${name}'s gradient: which tensors multiply into it?`;
  if (truth.zero.has(name) || truth.changed.has(name)) return REASONS[name] ?? generic;
  return saidZero
    ? `${name} is not zero: it keeps its random start`
    : `${name}'s gradient comes back through W1, which is zero: ${name} never moves from its random start`;
}

/** Reads a list of parameter names, accepting any case ("w1" is W1). */
function readNames(answer: unknown, key: string): Set<MlpParameter> {
  const value = field(answer, key);
  if (!Array.isArray(value)) throw new AnswerError(`${key} should be a list of parameter names, e.g. ["W1"]`);
  const names = new Set<MlpParameter>();
  for (const raw of value) {
    const name = MLP_PARAMETERS.find((p) => typeof raw === "string" && p.toLowerCase() === raw.trim().toLowerCase());
    if (!name)
      throw new AnswerError(
        `${JSON.stringify(raw)} in ${key} is not a parameter of the MLP (${MLP_PARAMETERS.join(", ")})`,
      );
    names.add(name);
  }
  return names;
}

/** The first parameter the learner's lists describe wrongly, with its hint. */
function firstWrong(
  stayZero: Set<MlpParameter>,
  learn: Set<MlpParameter>,
  truth: { zero: Set<string>; changed: Set<string> },
): { name: MlpParameter; message: string; hint: string; wrong: number } | null {
  const wrong = MLP_PARAMETERS.filter(
    (p) => stayZero.has(p) !== truth.zero.has(p) || learn.has(p) !== truth.changed.has(p),
  );
  const name = wrong[0];
  if (!name) return null;
  const is = truth.zero.has(name) ? "still all zeros" : truth.changed.has(name) ? "changed" : "unchanged, but not zero";
  const said = [stayZero.has(name) ? "stays at zero" : "", learn.has(name) ? "learns" : ""].filter(Boolean);
  return {
    name,
    wrong: wrong.length,
    message: `Your lists say ${name} ${said.length ? said.join(" and ") : "neither stays at zero nor learns"}; after training it is ${is}.`,
    hint: reasonFor(name, stayZero.has(name), truth),
  };
}

/**
 * Exercise 3.1: `{ stayZero, learn }`, the names of the MLP's parameters
 * (C, W1, b1, W2, b2) that are still all zero after training from the zero
 * initialization, and of those that changed.
 */
export const checkZeroInit = defineAsyncCheck(ZERO_INIT, async (answer: unknown): Promise<Judgement> => {
  const stayZero = readNames(answer, "stayZero");
  const learn = readNames(answer, "learn");
  if (stayZero.size + learn.size === 0) {
    return malformed(
      "both lists are empty",
      "train the network, then look at each parameter: is it still all zeros? did it change at all?",
    );
  }
  const truth = await zeroInitTruth();
  const wrong = firstWrong(stayZero, learn, truth);
  if (wrong) {
    const more = wrong.wrong > 1 ? ` (And ${wrong.wrong - 1} more to look at after this one.)` : "";
    return incorrect(wrong.message + more, wrong.hint);
  }
  return correct(
    `only ${[...truth.changed].join(", ")} learns; ${[...truth.zero].join(", ")} stay zero and C keeps its random start. After ${ZERO_INIT_STEPS} steps the loss is ${fmt(truth.loss)}, on its way to ${fmt(unigramLoss())}: the loss of predicting the letter frequencies whatever the context, the best a network that ignores its input can do.`,
  );
});
