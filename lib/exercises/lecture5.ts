/**
 * Lecture 5's exercise (notebook 08): beat the lecture's best validation loss
 * of the hierarchical network within the lecture's budget of training steps.
 *
 * @module
 */
import { judgeChallenge, type Challenge } from "./challenge";
import { defineCheck, type Exercise } from "./check";

/** Exercise 5.1. */
export const LECTURE5_CHALLENGE: Exercise = { id: "5.1", title: "beat the hierarchical network's validation loss" };

/** The target of exercise 5.1 and its budget (the lecture's 200,000 steps of 32). */
export const LECTURE5_TARGET: Challenge = {
  target: 1.993,
  source: "the lecture's 76,579-parameter network, 1.993; notebook 08's full run, 1.9937",
  steps: 200_000,
  batchSize: 32,
};

/** Exercise 5.1: `{ model, steps, batchSize, val }`, a model trained to a validation loss below {@link LECTURE5_TARGET}. */
export const checkLecture5Challenge = defineCheck(LECTURE5_CHALLENGE, (answer: unknown) =>
  judgeChallenge(LECTURE5_TARGET, answer),
);
