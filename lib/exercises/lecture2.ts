/**
 * Lecture 2's exercises (notebook 03): the loss of a perfectly uniform
 * prediction, an initialization that starts near it, and beating the
 * lecture's validation loss by tuning.
 *
 * @module
 */
import { lossOn, judgeChallenge, readModel, type Challenge } from "./challenge";
import { correct, defineCheck, fmt, incorrect, judgeNumber, readNumber, type Exercise, type Judgement } from "./check";

/** Exercise 2.1. */
export const UNIFORM_LOSS: Exercise = { id: "2.1", title: "the loss of a uniform prediction" };
/** Exercise 2.2. */
export const UNIFORM_START: Exercise = { id: "2.2", title: "an initialization near the uniform loss" };
/** Exercise 2.3. */
export const LECTURE2_CHALLENGE: Exercise = { id: "2.3", title: "beat the lecture's validation loss" };

/** -ln(1/27): every one of the 27 tokens gets probability 1/27. */
const UNIFORM = Math.log(27);

/** Exercise 2.1: the loss of a model that gives each of the 27 tokens the same probability. */
export const checkUniformLoss = defineCheck(UNIFORM_LOSS, (answer: unknown): Judgement =>
  judgeNumber(readNumber("loss", answer), {
    name: "loss",
    expected: UNIFORM,
    tolerance: 1e-3,
    correct: `${fmt(UNIFORM)}: each token gets 1/27, and every example costs -ln(1/27), whatever the target.`,
    mistakes: [
      { value: 1 / 27, hint: "this is the probability of each token; the loss is its negative log" },
      { value: -UNIFORM, hint: "the log of 1/27 is negative; the loss is its negative" },
      { value: Math.log10(27), hint: "a base-10 logarithm? The losses here use the natural logarithm" },
      { value: Math.log2(27), hint: "a base-2 logarithm (bits)? The losses here use the natural logarithm" },
      { value: Math.log(26), hint: "the boundary token '.' is one of the tokens the model predicts too" },
    ],
    hint: "a uniform model gives every one of the 27 tokens the same probability; what does one example then cost?",
  }),
);

/** How far from the uniform loss a good start may be. */
export const START_TOLERANCE = 0.1;

/**
 * Exercise 2.2: an untrained model whose loss on the training split is within
 * {@link START_TOLERANCE} of the uniform loss.
 */
export const checkInitialLoss = defineCheck(UNIFORM_START, (answer: unknown): Judgement => {
  const loss = lossOn(readModel("model", answer), "train");
  if (!Number.isFinite(loss)) {
    return incorrect(`Your model's loss is ${loss}.`, "some logits overflow: are the initial weights enormous?");
  }
  if (Math.abs(loss - UNIFORM) <= START_TOLERANCE) {
    return correct(
      `your model starts at ${fmt(loss)} on the training split, ${fmt(Math.abs(loss - UNIFORM))} from the uniform ${fmt(UNIFORM)}: no steps are wasted on undoing a confident start.`,
    );
  }
  if (loss < UNIFORM) {
    return incorrect(
      `Your model's loss ${fmt(loss)} is below the uniform ${fmt(UNIFORM)}.`,
      "it has learned already: pass the model before any training step",
    );
  }
  return incorrect(
    `Your model starts at ${fmt(loss)}, ${fmt(loss - UNIFORM)} above the uniform ${fmt(UNIFORM)}${loss > 10 ? " (the lecture's first loss was 27.88)" : ""}.`,
    "its logits are far apart before it has learned anything: which parameters make the logits, and what scale would make them nearly equal?",
  );
});

/** The target of exercise 2.3 and its budget (the lecture's 200,000 steps of 32). */
export const LECTURE2_TARGET: Challenge = {
  target: 2.166,
  source: "notebook 03's full run, 2.1660; the lecture's 2.170",
  steps: 200_000,
  batchSize: 32,
};

/** Exercise 2.3: `{ model, steps, batchSize, val }`, a model trained to a validation loss below {@link LECTURE2_TARGET}. */
export const checkLecture2Challenge = defineCheck(LECTURE2_CHALLENGE, (answer: unknown) =>
  judgeChallenge(LECTURE2_TARGET, answer),
);
