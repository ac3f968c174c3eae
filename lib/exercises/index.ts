/**
 * Exercises after each lecture, and checks that answer like a patient tutor.
 * Each notebook of a lecture ends with its exercises; a check cell ends with
 * a call of one of these, and prints whether the answer is right, how far
 * off it is and where to look, or what is wrong with the value itself.
 * Worked solutions: notebooks/solutions/.
 *
 * Notebooks import this file directly (`./lib/exercises/index`), not through
 * lib/index.
 *
 * @module
 */
export { CheckResult, type Exercise, type Judgement, type Verdict } from "./check";
export { exerciseData, type ExerciseData } from "./data";
export {
  checkSmoothing,
  checkSplitScores,
  checkTrigramCounts,
  SMOOTHING,
  SPLIT_SCORES,
  TRIGRAM_COUNTS,
} from "./lecture1-counts";
export {
  checkCrossEntropy,
  checkRowIndexing,
  checkTrigramNetwork,
  LIBRARY_CROSS_ENTROPY,
  ROW_INDEXING,
  TRIGRAM_NETWORK,
} from "./lecture1-network";
export {
  checkInitialLoss,
  checkLecture2Challenge,
  checkUniformLoss,
  LECTURE2_CHALLENGE,
  LECTURE2_TARGET,
  UNIFORM_LOSS,
  UNIFORM_START,
} from "./lecture2";
export { checkZeroInit, MLP_PARAMETERS, ZERO_INIT, zeroInitMlp, type MlpParameter } from "./lecture3-zero";
export { loadChallengeAnswer, saveChallengeAnswer } from "./answers";
export { BATCHNORM_FOLD, checkBatchNormFold, type Fold } from "./lecture3-fold";
export { checkLecture5Challenge, LECTURE5_CHALLENGE, LECTURE5_TARGET } from "./lecture5";
export type { Challenge, ChallengeAnswer } from "./challenge";
