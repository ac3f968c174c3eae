/**
 * The tuning challenges (lectures 2 and 5): beat a lecture's validation loss
 * within a stated budget of training examples. There is no single right
 * model, so the check verifies what has a right answer: the validation loss
 * measured on the lectures' split (the learner's own figure must match it),
 * the budget, and whether the loss is below the target. When it is not, the
 * gap between training and validation loss says which way to go.
 *
 * @module
 */
import type { LanguageModel } from "../models/model";
import { isQuick } from "../notebook/quick";
import { splitLoss } from "../training/evaluate";
import { contextsOf, type Part } from "./data";
import {
  AnswerError,
  correct,
  count,
  describeValue,
  field,
  fmt,
  incorrect,
  judgeNumber,
  readFinite,
  type Judgement,
} from "./check";

/** A challenge: the loss to beat and the training budget. */
export interface Challenge {
  /** the validation loss to get below */
  target: number;
  /** where the target comes from, e.g. "notebook 03's full run, 2.1660; the lecture's 2.170" */
  source: string;
  /** training steps of the budget */
  steps: number;
  /** examples per step of the budget: steps × batch size may not exceed steps × this */
  batchSize: number;
}

/** What a learner hands in: the trained model, how it was trained, and its validation loss. */
export interface ChallengeAnswer {
  /** the trained model (a model of context windows) */
  model: LanguageModel;
  /** training steps taken */
  steps: number;
  /** examples per step */
  batchSize: number;
  /** the validation loss the learner measured */
  val: number;
}

/** Reads a model of context windows for the 27 tokens of the names. */
export function readModel(name: string, value: unknown): LanguageModel {
  const m = value as Partial<LanguageModel> | null;
  if (!m || typeof m !== "object" || typeof m.forward !== "function" || typeof m.parameters !== "function") {
    throw new AnswerError(`${name} should be a model (with forward and parameters), but it is ${describeValue(value)}`);
  }
  if ((m as { examples?: unknown }).examples === "sequence") {
    throw new AnswerError(`${name} reads whole lines; this exercise takes a model of context windows`);
  }
  if (!Number.isInteger(m.blockSize) || (m.blockSize as number) < 1) {
    throw new AnswerError(`${name}.blockSize should be the context length, but it is ${String(m.blockSize)}`);
  }
  if (m.vocabSize !== 27)
    throw new AnswerError(`${name} is built for ${String(m.vocabSize)} tokens; the names have 27`);
  return m as LanguageModel;
}

/** A model's mean loss on a part of the lectures' split. */
export function lossOn(model: LanguageModel, part: Part): number {
  return splitLoss(model, contextsOf(part, model.blockSize));
}

function readPositiveInteger(name: string, value: unknown): number {
  const x = readFinite(name, value);
  if (!Number.isInteger(x) || x < 1) throw new AnswerError(`${name} should be a positive whole number, but it is ${x}`);
  return x;
}

const QUICK_NOTE = " (Quick mode trains briefly; the full run of the notebook is what can reach the target.)";

function judgeBelowTarget(c: Challenge, val: number, train: number, examples: number): Judgement {
  if (val < c.target) {
    return correct(
      `validation loss ${fmt(val)}, ${fmt(c.target - val)} below the target ${fmt(c.target)} (${c.source}), with ${count(examples)} training examples of the ${count(c.steps * c.batchSize)} allowed; training loss ${fmt(train)}.`,
    );
  }
  const overfits = val - train > 0.06;
  return incorrect(
    `Your validation loss ${fmt(val)} is ${fmt(val - c.target)} above the target ${fmt(c.target)} (${c.source}).${isQuick() ? QUICK_NOTE : ""}`,
    overfits
      ? `training loss ${fmt(train)} is far below it: the model overfits; a smaller model, or fewer steps at a high learning rate, generalizes better`
      : `training loss ${fmt(train)} is close to it: the model underfits; more capacity (embedding, hidden units, context) or a better schedule`,
  );
}

/** Judges a challenge answer (see the module comment). */
export function judgeChallenge(c: Challenge, answer: unknown): Judgement {
  const model = readModel("model", field(answer, "model"));
  const steps = readPositiveInteger("steps", field(answer, "steps"));
  const batchSize = readPositiveInteger("batchSize", field(answer, "batchSize"));
  const reported = readFinite("val", field(answer, "val"));
  const examples = steps * batchSize;
  if (examples > c.steps * c.batchSize) {
    return incorrect(
      `${count(steps)} steps of ${batchSize} examples are ${count(examples)} examples, over the budget of ${count(c.steps * c.batchSize)} (${count(c.steps)} steps of ${c.batchSize}).`,
      "fewer steps, or smaller batches",
    );
  }
  const val = lossOn(model, "val");
  const train = lossOn(model, "train");
  const measured = judgeNumber(reported, {
    name: "validation loss",
    expected: val,
    tolerance: 2e-4,
    mistakes: [
      { value: train, hint: "this is the training loss: measure the val split" },
      {
        value: lossOn(model, "test"),
        hint: "this is the test loss: the test split is looked at once, at the very end",
      },
    ],
    hint: "measure with splitLoss on the val contexts of lectureSplit(words, 42), with your model's block size",
  });
  if (measured.verdict !== "correct") return measured;
  return judgeBelowTarget(c, val, train, examples);
}
