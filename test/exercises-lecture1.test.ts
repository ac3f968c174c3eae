/**
 * The checks of lecture 1's exercises accept the worked solution's answers
 * and answer the typical wrong ones with the right message. The answers are
 * computed here the way a learner writes them (plain loops over strings,
 * tfjs ops), independently of lib/exercises.
 */
import {
  checkSmoothing,
  checkSplitScores,
  checkTrigramCounts,
  CheckResult,
  exerciseData,
} from "../lib/exercises/index";
import { ngramNll, ngramTable } from "../lib/exercises/ngrams";
import { bigramCounts, bigramNll, countsToProbs } from "../lib/models/counts";
import { buildContexts, splitWords } from "../lib/data/contexts";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";

/**
 * A learner's n-gram model: counts of (context of k characters, next character)
 * over names padded with `pad` in front and "." behind.
 */
function ngramLoss(train: string[], scored: string[], smoothing: number, pad: string, k = pad.length): number {
  const counts = new Map<string, Map<string, number>>();
  const grams = (w: string) => {
    const chs = pad + w + ".";
    return Array.from({ length: chs.length - k }, (_, i) => [chs.slice(i, i + k), chs[i + k]!] as const);
  };
  for (const w of train) {
    for (const [ctx, next] of grams(w)) {
      const row = counts.get(ctx) ?? new Map<string, number>();
      row.set(next, (row.get(next) ?? 0) + 1);
      counts.set(ctx, row);
    }
  }
  let sum = 0;
  let n = 0;
  for (const w of scored) {
    for (const [ctx, next] of grams(w)) {
      const row = counts.get(ctx);
      const total = [...(row?.values() ?? [])].reduce((a, b) => a + b, 0) + 27 * smoothing;
      sum += Math.log(((row?.get(next) ?? 0) + smoothing) / total);
      n++;
    }
  }
  return -sum / n;
}

const expectResult = (r: CheckResult, verdict: CheckResult["verdict"], text: RegExp) => {
  expect({ verdict: r.verdict, text: r.toString() }).toEqual({ verdict, text: expect.stringMatching(text) });
};

beforeAll(async () => {
  await initBackend("wasm");
});

const { words, split } = exerciseData();

describe("the n-gram counts behind the checks", () => {
  test("give the lib's bigram loss and a learner's trigram loss", () => {
    const { vocab } = exerciseData();
    const bi = buildContexts(words, vocab, 1);
    const libBigram = bigramNll(countsToProbs(bigramCounts(words, vocab), 1), words, vocab).nll;
    expect(ngramNll(ngramTable(bi, 27), bi, 1)).toBeCloseTo(libBigram, 10);
    const tri = buildContexts(words, vocab, 2);
    expect(ngramNll(ngramTable(tri, 27), tri, 1)).toBeCloseTo(ngramLoss(words, words, 1, ".."), 10);
  });
});

describe("1.1 trigram by counting", () => {
  const right = ngramLoss(words, words, 1, "..");
  test("accepts the solution's loss, and a scalar tensor holding it", () => {
    expectResult(checkTrigramCounts(right), "correct", /2\.21\d\d over all 228,146 trigrams.*bigram scores 2\.4546/);
    expectResult(checkTrigramCounts(tf.scalar(right)), "correct", /2\.21/);
  });
  test("names the forgotten smoothing, the one-token padding, a sum and a base-10 log", () => {
    expectResult(
      checkTrigramCounts(ngramLoss(words, words, 0, "..")),
      "incorrect",
      /too low\.\n.*Hint: .*raw counts.*\+1/,
    );
    expectResult(checkTrigramCounts(ngramLoss(words, words, 1, ".", 2)), "incorrect", /Hint: .*padded with one '\.'/);
    expectResult(checkTrigramCounts(right * 228146), "incorrect", /too high\.\n.*Hint: .*sum/);
    expectResult(checkTrigramCounts(right / Math.LN10), "incorrect", /base-10/);
    expectResult(checkTrigramCounts(2.3), "incorrect", /0\.0874 too high\.\n.*Hint: check three things/);
  });
  test("says what is malformed: NaN, a missing value, a string, a vector", () => {
    expectResult(checkTrigramCounts(NaN), "malformed", /cannot check this answer yet\n {2}loss is NaN/);
    expectResult(checkTrigramCounts(undefined), "malformed", /loss should be a number, but it is undefined/);
    expectResult(checkTrigramCounts("2.21"), "malformed", /but it is a string/);
    expectResult(checkTrigramCounts(tf.tensor1d([1, 2])), "malformed", /a tensor of shape \[2\]/);
    expectResult(checkTrigramCounts(Infinity), "incorrect", /Infinity.*\n.*smooth/);
  });
});

describe("1.2 train, dev and test splits", () => {
  const score = (train: string[], pad: string) => ({
    val: ngramLoss(train, split.val, 1, pad),
    test: ngramLoss(train, split.test, 1, pad),
  });
  const right = { bigram: score(split.train, "."), trigram: score(split.train, "..") };
  test("accepts the solution's scores", () => {
    expectResult(
      checkSplitScores(right),
      "correct",
      /bigram dev 2\.4533, test 2\.4584; trigram dev 2\.2365, test 2\.2373/,
    );
  });
  test("names counts over every name, a swap of dev and test, and the training loss", () => {
    const leaked = { bigram: score(words, "."), trigram: score(words, "..") };
    expectResult(checkSplitScores(leaked), "incorrect", /bigram dev loss .* too low.*\n.*training names only/);
    const swapped = { ...right, trigram: { val: right.trigram.test, test: right.trigram.val } };
    expectResult(checkSplitScores(swapped), "incorrect", /trigram dev loss .*\n.*swapped/);
    const other = splitWords(words, 42);
    const otherScores = { ...right, trigram: { val: ngramLoss(other.train, other.val, 1, ".."), test: 0 } };
    expectResult(
      checkSplitScores(otherScores),
      "incorrect",
      /trigram dev loss .*\n.*another split of the names: use lectureSplit/,
    );
    const onTrain = { ...right, trigram: { ...right.trigram, val: ngramLoss(split.train, split.train, 1, "..") } };
    expectResult(checkSplitScores(onTrain), "incorrect", /trigram dev loss .* too low.*\n.*loss on the training names/);
    const raw = { ...right, trigram: { val: ngramLoss(split.train, split.val, 0, ".."), test: 0 } };
    expect(raw.trigram.val).toBeNaN(); // a context never seen in training: 0/0
    expectResult(
      checkSplitScores(raw),
      "malformed",
      /trigram\.val is NaN.*\n.*never occurs in the training names has counts that are all 0, and 0\/0 is NaN/,
    );
    const rawBigram = { ...right, bigram: { ...right.bigram, test: Infinity } };
    expectResult(checkSplitScores(rawBigram), "incorrect", /bigram test loss is Infinity\.\n.*keep the \+1 smoothing/);
  });
  test("says which value is missing", () => {
    expectResult(checkSplitScores({ bigram: right.bigram }), "malformed", /the answer has no trigram\.val/);
    expectResult(checkSplitScores(null), "malformed", /the answer has no bigram\.val/);
  });
});

describe("1.3 smoothing tuned on the dev split", () => {
  const grid = [0.001, 0.01, 0.03, 0.1, 0.3, 1, 3];
  const on = (scored: string[]) => (s: number) => ngramLoss(split.train, scored, s, "..");
  const pick = (loss: (s: number) => number) => grid.reduce((a, b) => (loss(b) < loss(a) ? b : a));
  const answer = (s: number) => ({ smoothing: s, val: on(split.val)(s), test: on(split.test)(s) });
  test("accepts the solution's choice, its dev loss and its test loss", () => {
    const s = pick(on(split.val));
    expect(s).toBe(0.1);
    expectResult(checkSmoothing(answer(s)), "correct", /smoothing 0\.1: dev 2\.2225 .*best is 2\.222\d.*test 2\.2240/);
  });
  test("names tuning on the training names, a coarse grid, the test loss as dev, +1's test loss", () => {
    const onTrain = pick(on(split.train));
    expect(onTrain).toBe(0.001);
    expectResult(checkSmoothing(answer(onTrain)), "incorrect", /above the best.*\n.*training names prefer/);
    expectResult(checkSmoothing(answer(1)), "incorrect", /Smoothing 1 gives .*\n.*less smoothing/);
    expectResult(
      checkSmoothing({ ...answer(0.1), val: on(split.test)(0.1) }),
      "incorrect",
      /dev loss .*\n.*test loss at your smoothing/,
    );
    expectResult(
      checkSmoothing({ ...answer(0.1), test: on(split.test)(1) }),
      "incorrect",
      /test loss .*\n.*\+1 smoothing/,
    );
  });
  test("says what is malformed", () => {
    expectResult(checkSmoothing({ smoothing: "0.1", val: 2, test: 2 }), "malformed", /smoothing should be a number/);
    expectResult(checkSmoothing({ smoothing: 0.1, val: 2.2225 }), "malformed", /the answer has no test/);
  });
});
