/**
 * Lecture 1's counting exercises (notebook 01): a trigram model by counting,
 * bigram and trigram scored on the dev and test splits, and the smoothing
 * tuned on the dev split. Each check recounts with the lib's context windows
 * and the lectures' split, and knows the values that the usual slips give.
 *
 * @module
 */
import { buildContexts, splitWords } from "../data/contexts";
import { contextsOf, exerciseData, once, type Part } from "./data";
import { bestSmoothing, ngramNll, ngramTable, withoutStarts, type NgramTable } from "./ngrams";
import {
  correct,
  count,
  defineCheck,
  field,
  fmt,
  incorrect,
  judgeNumber,
  malformed,
  readFinite,
  readNumber,
  type Exercise,
  type Judgement,
  type Mistake,
} from "./check";

/** Exercise 1.1. */
export const TRIGRAM_COUNTS: Exercise = { id: "1.1", title: "trigram by counting" };
/** Exercise 1.2. */
export const SPLIT_SCORES: Exercise = { id: "1.2", title: "train, dev and test splits" };
/** Exercise 1.3. */
export const SMOOTHING: Exercise = { id: "1.3", title: "smoothing tuned on the dev split" };

const vocabSize = (): number => exerciseData().vocab.size;

/** The count table of `order` tokens of context over a part. */
const tableOf = (part: Part, order: number): NgramTable => ngramTable(contextsOf(part, order), vocabSize());

/** The NLL of a part under a table, with `smoothing`. */
const nllOf = (table: NgramTable, part: Part, smoothing: number): number =>
  ngramNll(table, contextsOf(part, table.order), smoothing);

const trigramFacts = once(() => {
  const all = contextsOf("all", 2);
  const short = withoutStarts(all);
  const full = ngramTable(all, vocabSize());
  const shortTable = ngramTable(short, vocabSize());
  return {
    n: all.n,
    smoothed: ngramNll(full, all, 1),
    raw: ngramNll(full, all, 0),
    short: ngramNll(shortTable, short, 1),
    shortRaw: ngramNll(shortTable, short, 0),
    bigram: nllOf(tableOf("all", 1), "all", 1),
  };
});

/** The values that the usual slips of exercise 1.1 give, and what each one missed. */
function trigramMistakes(f: ReturnType<typeof trigramFacts>): Mistake[] {
  const twoDots = "pad each name with two '.' in front, so 'emma' gives five trigrams, as many as bigrams";
  return [
    {
      value: f.raw,
      hint: "this is the loss of the raw counts: the exercise adds 1 to every count first (+1 smoothing)",
    },
    {
      value: f.short,
      hint: `your names seem padded with one '.': then the first letter is never predicted; ${twoDots}`,
    },
    { value: f.shortRaw, hint: `two things: ${twoDots}; and add 1 to every count` },
    {
      value: f.bigram,
      hint: "this is the bigram's loss: the context must hold the two characters before the one predicted",
    },
    { value: -f.smoothed, hint: "a negative log-likelihood is positive: negate the average log-likelihood" },
    { value: f.smoothed * f.n, hint: "this looks like a sum over all trigrams: the loss is the average" },
    {
      value: f.smoothed / Math.LN10,
      hint: "a base-10 logarithm? The losses here use the natural logarithm (Math.log)",
    },
  ];
}

/**
 * Exercise 1.1: the average NLL of the trigram model over every trigram of
 * every name, with two boundary tokens before the first letter and +1 smoothing.
 */
export const checkTrigramCounts = defineCheck(TRIGRAM_COUNTS, (answer: unknown): Judgement => {
  const got = readNumber("loss", answer);
  const f = trigramFacts();
  if (got === Infinity) {
    return incorrect(
      "Your loss is Infinity.",
      "some trigram got probability 0, and log 0 is -Infinity: smooth the counts",
    );
  }
  return judgeNumber(got, {
    name: "loss",
    expected: f.smoothed,
    tolerance: 5e-4,
    correct: `${fmt(got)} over all ${count(f.n)} trigrams. The bigram scores ${fmt(f.bigram)}: a second character of context takes ${fmt(f.bigram - f.smoothed)} off the loss.`,
    mistakes: trigramMistakes(f),
    hint: "check three things: the trigrams of 'emma' (five, from '..e' to 'ma.'), the +1 on every count, and the average of -log p over every trigram of every name",
  });
});

/** The dev and test losses of a model counted on another shuffle of the names (the lib's `splitWords`). */
function otherSplitLosses(order: number): { val: number; test: number } {
  const { words, vocab } = exerciseData();
  const other = splitWords(words, 42);
  const [train, val, test] = [other.train, other.val, other.test].map((w) => buildContexts(w, vocab, order));
  const table = ngramTable(train!, vocab.size);
  return { val: ngramNll(table, val!, 1), test: ngramNll(table, test!, 1) };
}

const splitFacts = once(() => {
  const facts = (order: number) => {
    const train = tableOf("train", order);
    const leaked = tableOf("all", order);
    return {
      train: nllOf(train, "train", 1),
      val: nllOf(train, "val", 1),
      test: nllOf(train, "test", 1),
      leaked: { val: nllOf(leaked, "val", 1), test: nllOf(leaked, "test", 1) },
      otherSplit: otherSplitLosses(order),
    };
  };
  return { bigram: facts(1), trigram: facts(2) };
});

type ModelName = "bigram" | "trigram";
type Scored = "val" | "test";
const SPLIT_NAMES: Record<Scored, string> = { val: "dev", test: "test" };

function judgeSplitValue(model: ModelName, part: Scored, got: number): Judgement {
  const f = splitFacts()[model];
  const other: Scored = part === "val" ? "test" : "val";
  const name = `${model} ${SPLIT_NAMES[part]} loss`;
  if (Number.isNaN(got)) {
    return malformed(
      `${model}.${part} is NaN (not a number)`,
      `put your answer in place of the starter's NaN; or, if you computed it: a ${model} context of the ${SPLIT_NAMES[part]} names that never occurs in the training names has counts that are all 0, and 0/0 is NaN (keep the +1 smoothing)`,
    );
  }
  if (!Number.isFinite(got)) {
    return incorrect(
      `Your ${name} is ${got}.`,
      `some ${model}s of the ${SPLIT_NAMES[part]} names never occur in the training names: without smoothing their probability is 0; keep the +1 smoothing`,
    );
  }
  return judgeNumber(got, {
    name,
    expected: f[part],
    tolerance: 2e-4,
    mistakes: [
      {
        value: f.leaked[part],
        hint: "the counts must come from the training names only; counting every name lets the model see its exam",
      },
      { value: f.otherSplit[part], hint: "this is another split of the names: use lectureSplit(words, 42)" },
      { value: f.train, hint: `this is the loss on the training names: score the ${SPLIT_NAMES[part]} names` },
      { value: f[other], hint: `this is the ${SPLIT_NAMES[other]} loss: are dev and test swapped?` },
    ],
    hint: "count on split.train with +1 smoothing, from lectureSplit(words, 42); score split.val (dev) and split.test",
  });
}

/**
 * Exercise 1.2: `{ bigram: { val, test }, trigram: { val, test } }`, the
 * models counted on the training names of `lectureSplit(words, 42)` with +1
 * smoothing and scored on the dev (val) and test names.
 */
export const checkSplitScores = defineCheck(SPLIT_SCORES, (answer: unknown): Judgement => {
  for (const model of ["bigram", "trigram"] as const) {
    for (const part of ["val", "test"] as const) {
      const got = readNumber(`${model}.${part}`, field(answer, `${model}.${part}`), { allowNaN: true });
      const j = judgeSplitValue(model, part, got);
      if (j.verdict !== "correct") return j;
    }
  }
  const { bigram: b, trigram: t } = splitFacts();
  return correct(
    `bigram dev ${fmt(b.val)}, test ${fmt(b.test)}; trigram dev ${fmt(t.val)}, test ${fmt(t.test)}. On names it never counted the trigram is still ${fmt(b.val - t.val)} better; on its own training names it scores ${fmt(t.train)}, ${fmt(t.val - t.train)} lower than on dev: it starts to memorize.`,
  );
});

const smoothingFacts = once(() => {
  const table = tableOf("train", 2);
  const at = (part: Part) => (s: number) => nllOf(table, part, s);
  return { train: at("train"), val: at("val"), test: at("test"), best: bestSmoothing(at("val")) };
});

/** How close to the dev split's best a tuned smoothing must come. */
export const SMOOTHING_SLACK = 0.002;

function judgeSmoothingChoice(s: number): Judgement | null {
  const f = smoothingFacts();
  const gap = f.val(s) - f.best.loss;
  if (gap <= SMOOTHING_SLACK) return null;
  const direction =
    s < f.best.smoothing / 20
      ? "this little smoothing is what the training names prefer (less smoothing always fits them better); choose by the dev loss"
      : s < f.best.smoothing
        ? "the dev loss still falls with more smoothing: try larger values"
        : "the dev loss still falls with less smoothing: try smaller values";
  return incorrect(
    `Smoothing ${s} gives a dev loss of ${fmt(f.val(s))}, ${fmt(gap)} above the best the dev split allows.`,
    direction,
  );
}

/** The reported dev loss against the dev loss at smoothing `s`. */
function judgeDevLoss(s: number, val: number): Judgement {
  const f = smoothingFacts();
  return judgeNumber(val, {
    name: "dev loss",
    expected: f.val(s),
    tolerance: 2e-4,
    mistakes: [
      {
        value: f.test(s),
        hint: "this is the test loss at your smoothing: the dev names choose, the test names are scored once",
      },
      { value: f.train(s), hint: "this is the training loss at your smoothing: measure on split.val" },
    ],
    hint: `measure the dev loss of the trigram counted on split.train, with smoothing ${s}`,
  });
}

/** The reported test loss against the test loss at smoothing `s`. */
function judgeTestLoss(s: number, test: number): Judgement {
  const f = smoothingFacts();
  return judgeNumber(test, {
    name: "test loss",
    expected: f.test(s),
    tolerance: 2e-4,
    mistakes: [
      { value: f.val(s), hint: "this is the dev loss again: score split.test, once" },
      {
        value: f.test(1),
        hint: `this is the test loss with +1 smoothing: report it at the smoothing you chose (${s})`,
      },
    ],
    hint: `score split.test with the trigram counted on split.train and smoothing ${s}`,
  });
}

/**
 * Exercise 1.3: `{ smoothing, val, test }` for the trigram counted on the
 * training names: the smoothing chosen by the dev loss, its dev loss, and
 * its test loss, looked at once.
 */
export const checkSmoothing = defineCheck(SMOOTHING, (answer: unknown): Judgement => {
  const s = readFinite("smoothing", field(answer, "smoothing"));
  if (s < 0)
    return incorrect(`Your smoothing is ${s}.`, "a negative pseudo-count can make a count negative: use s > 0");
  const dev = judgeDevLoss(s, readNumber("val", field(answer, "val")));
  if (dev.verdict !== "correct") return dev;
  const choice = judgeSmoothingChoice(s);
  if (choice) return choice;
  const test = judgeTestLoss(s, readNumber("test", field(answer, "test")));
  if (test.verdict !== "correct") return test;
  const f = smoothingFacts();
  return correct(
    `smoothing ${s}: dev ${fmt(f.val(s))} (the dev split's best is ${fmt(f.best.loss)}, near ${f.best.smoothing.toPrecision(2)}), test ${fmt(f.test(s))}. The +1 of exercise 1.2 gave dev ${fmt(f.val(1))}.`,
  );
});
