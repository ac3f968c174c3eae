/**
 * Lecture 1's network exercises (notebook 02): a trigram as a neural network,
 * the one-hot product replaced by row indexing, and the hand-written softmax
 * and NLL replaced by a library cross-entropy. The checks run the learner's
 * function on the names and compare with the one-hot product, the counts and
 * the lib's cross-entropy.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { oneHotLogits } from "../models/nn-bigram";
import { crossEntropy } from "../nn/ops";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import { contextsOf, exerciseData, once } from "./data";
import { ngramNll, ngramTable } from "./ngrams";
import {
  AnswerError,
  callAnswer,
  checkTensor,
  correct,
  count,
  defineCheck,
  field,
  firstLine,
  fmt,
  inScope,
  incorrect,
  judgeNumber,
  readFinite,
  readNumber,
  shapeText,
  type Exercise,
  type Judgement,
} from "./check";

/** Exercise 1.4. */
export const TRIGRAM_NETWORK: Exercise = { id: "1.4", title: "trigram by a network" };
/** Exercise 1.5. */
export const ROW_INDEXING: Exercise = { id: "1.5", title: "row indexing instead of the one-hot product" };
/** Exercise 1.6. */
export const LIBRARY_CROSS_ENTROPY: Exercise = { id: "1.6", title: "a library cross-entropy" };

/** Contexts per call of a learner's model. */
const CHUNK = 8192;

const countFacts = once(() => {
  const V = exerciseData().vocab.size;
  const tri = contextsOf("all", 2);
  const bi = contextsOf("all", 1);
  const triTable = ngramTable(tri, V);
  return {
    n: tri.n,
    bigram: ngramNll(ngramTable(bi, V), bi, 1),
    trigram: ngramNll(triTable, tri, 1),
    floor: ngramNll(triTable, tri, 0),
  };
});

/** Whether every row of `t` [n, V] is a probability distribution (then it is not logits). */
function isProbabilities(t: tfjs.Tensor2D): boolean {
  return tf.tidy(() => {
    const inRange = tf.logicalAnd(tf.greaterEqual(t, 0), tf.lessEqual(t, 1)).all().dataSync()[0] === 1;
    const rowsSumToOne =
      tf
        .abs(tf.sub(t.sum(1), 1))
        .max()
        .dataSync()[0]! < 1e-3;
    return inRange && rowsSumToOne;
  });
}

/** Mean cross-entropy of the learner's `logits(X)` over every trigram of every name. */
function networkNll(logits: unknown): number {
  const c = contextsOf("all", 2);
  const V = exerciseData().vocab.size;
  let total = 0;
  for (let start = 0; start < c.n; start += CHUNK) {
    const m = Math.min(CHUNK, c.n - start);
    total += tf.tidy(() => {
      const X = tf.tensor2d(c.X.subarray(2 * start, 2 * (start + m)), [m, 2], "int32");
      const out = callAnswer<unknown>("logits(X)", logits, X);
      const L = checkTensor(
        "logits(X)",
        out,
        [m, V],
        "one row of 27 logits per context of two tokens",
      ) as tfjs.Tensor2D;
      if (isProbabilities(L)) {
        throw new AnswerError("logits(X) returns probabilities", "return the logits: the check applies the softmax");
      }
      return crossEntropy(L, tf.tensor1d(c.Y.subarray(start, start + m), "int32")).dataSync()[0]! * m;
    });
  }
  return total / c.n;
}

function judgeNetworkLoss(measured: number): Judgement {
  const f = countFacts();
  if (measured < f.floor - 1e-3) {
    return incorrect(
      `Your network's NLL ${fmt(measured)} is below ${fmt(f.floor)}, the loss of the raw trigram counts, which no model of two characters can beat on the names it learned from.`,
      "does the model see more than the two characters before the target?",
    );
  }
  if (measured > f.bigram - 0.02) {
    const likeBigram = Math.abs(measured - f.bigram) < 0.02;
    return incorrect(
      `Your network's NLL ${fmt(measured)} is not clearly below the bigram's ${fmt(f.bigram)}.`,
      likeBigram
        ? "it scores like a bigram: does it read both characters of the context, X[:, 0] and X[:, 1]?"
        : "train longer or with another learning rate, and watch that the loss falls",
    );
  }
  return correct(
    `your network's NLL over all ${count(f.n)} trigrams is ${fmt(measured)}, ${fmt(f.bigram - measured)} below the bigram's ${fmt(f.bigram)}. Counting gives ${fmt(f.trigram)} with +1 smoothing.`,
  );
}

/**
 * Exercise 1.4: `{ logits, loss }`: a function from contexts X [n, 2]
 * (int32 token indices) to logits [n, 27], trained on every name, and the
 * NLL it reports over every trigram of every name.
 */
export const checkTrigramNetwork = defineCheck(TRIGRAM_NETWORK, (answer: unknown): Judgement => {
  const reported = readFinite("loss", field(answer, "loss"));
  const measured = networkNll(field(answer, "logits"));
  if (Math.abs(reported - measured) > 2e-3) {
    return incorrect(
      `Your reported loss ${fmt(reported)} is not the NLL of your network over all trigrams, ${fmt(measured)}.`,
      reported > measured
        ? "does it include the regularization term? Report the NLL alone"
        : "measured on part of the trigrams, or one batch? Report the mean over every trigram of every name",
    );
  }
  return judgeNetworkLoss(measured);
});

const indexingFacts = once(() => {
  const V = exerciseData().vocab.size;
  return { V, W: new Generator(7).randnArray(V * V), xs: contextsOf("all", 1).X };
});

/** The gradient of sum(f(W, xs) · R) with respect to W. */
function gradientOf(f: (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => unknown, W: tfjs.Tensor2D, xs: tfjs.Tensor1D) {
  const R = tf.tensor2d(new Generator(8).randnArray(xs.size * W.shape[1]), [xs.size, W.shape[1]]);
  return tf.grad((w: tfjs.Tensor) => tf.sum(tf.mul(f(w as tfjs.Tensor2D, xs) as tfjs.Tensor, R)))(W);
}

function judgeIndexingGradient(fn: unknown, W: tfjs.Tensor2D): Judgement | null {
  const xs = tf.tensor1d(indexingFacts().xs.subarray(0, 2000), "int32");
  let mine: tfjs.Tensor;
  try {
    mine = gradientOf((w, x) => (fn as (w: tfjs.Tensor2D, x: tfjs.Tensor1D) => unknown)(w, x), W, xs);
  } catch (e) {
    return incorrect(
      `The values are right, but tfjs cannot take the gradient of your function on the ${tf.getBackend()} backend (${firstLine(e)}).`,
      "tf.gather's gradient needs a kernel the wasm backend lacks; the lib's embedding(W, xs) gathers rows with a gradient of its own",
    );
  }
  const theirs = gradientOf((w, x) => tf.matMul(tf.oneHot(x, w.shape[0]).toFloat(), w), W, xs);
  const diff = tf.max(tf.abs(tf.sub(mine, theirs))).dataSync()[0]!;
  if (diff > 1e-4) {
    return incorrect(
      `The values are right, but the gradient for W differs from the one-hot product's by up to ${diff.toPrecision(2)}.`,
      "the gradient of a picked row goes back into that row of W only",
    );
  }
  return null;
}

function judgeIndexing(fn: unknown): Judgement {
  const { V, W: values, xs: indices } = indexingFacts();
  const n = indices.length;
  const W = tf.tensor2d(values, [V, V]);
  const xs = tf.tensor1d(indices, "int32");
  const out = callAnswer<unknown>("rows(W, xs)", fn, W, xs);
  if (out instanceof tf.Tensor && out.shape.join(",") === `${V},${n}`) {
    throw new AnswerError(
      `rows(W, xs) has shape ${shapeText(out.shape)}: one column per input`,
      "take rows (axis 0) of W, not columns",
    );
  }
  const rows = checkTensor("rows(W, xs)", out, [n, V], "one row of logits per input");
  const diff = tf.max(tf.abs(tf.sub(rows, oneHotLogits(W, indices)))).dataSync()[0]!;
  if (diff > 1e-5) {
    const columns = tf.max(tf.abs(tf.sub(rows, tf.gather(tf.transpose(W), xs)))).dataSync()[0]! <= 1e-5;
    return incorrect(
      `Your logits differ from the one-hot product's by up to ${diff.toPrecision(3)}.`,
      columns
        ? "your row k holds column xs[k] of W: the one-hot product picks row xs[k]"
        : "row k must be row xs[k] of W",
    );
  }
  return (
    judgeIndexingGradient(fn, W) ??
    correct(
      `row indexing gives the one-hot product's logits and the same gradient for W, without the ${count(n)} × ${V} one-hot matrix (${count(n * V)} numbers, all but ${count(n)} of them 0).`,
    )
  );
}

/**
 * Exercise 1.5: `rows(W, xs)`: the logits of the neural bigram, W [27, 27]
 * and xs [n] int32, without the one-hot product: W's rows picked by index.
 */
export const checkRowIndexing = defineCheck(ROW_INDEXING, (fn: unknown): Judgement => {
  if (typeof fn === "function" && /onehot/i.test(fn.toString())) {
    return incorrect(
      "Your function still builds one-hot rows (it calls a oneHot function).",
      "a one-hot row times W is one row of W: pick the rows directly",
    );
  }
  return inScope(() => judgeIndexing(fn));
});

const entropyFacts = once(() => {
  const n = 100;
  const V = exerciseData().vocab.size;
  const g = new Generator(11);
  const logits = Array.from(g.randnArray(n * V), (x) => 3 * x);
  const ys = Int32Array.from({ length: n }, () => g.randint(0, V));
  const big = logits.map((x, i) => (i % V === ys[Math.floor(i / V)]! || i % 7 === 0 ? x + 100 : x));
  return { n, V, logits, big, ys };
});

/** The learner's loss on `logits`; a per-example vector or an error becomes a clear message. */
function lossOf(fn: unknown, logits: number[]): number {
  const { n, V, ys } = entropyFacts();
  return tf.tidy(() => {
    const L = tf.tensor2d(logits, [n, V]);
    let out: unknown;
    try {
      out = callAnswer<unknown>("loss(logits, ys)", fn, L, tf.tensor1d(ys, "int32"));
    } catch (e) {
      const shapes = /shape/i.test((e as Error).message);
      if (!shapes) throw e;
      throw new AnswerError(
        (e as Error).message,
        "tf.losses.softmaxCrossEntropy wants one-hot labels, tf.oneHot(ys, 27)",
      );
    }
    if (out instanceof tf.Tensor && out.size === n) {
      throw new AnswerError(`loss(logits, ys) returns ${n} losses, one per example`, "the loss is their mean");
    }
    return readNumber("loss(logits, ys)", out, { allowNaN: true });
  });
}

/** The lib's cross-entropy, the reference. */
function referenceLoss(logits: number[]): number {
  const { n, V, ys } = entropyFacts();
  return tf.tidy(() => crossEntropy(tf.tensor2d(logits, [n, V]), tf.tensor1d(ys, "int32")).dataSync()[0]!);
}

/** The learner's loss on ordinary logits against the lib's, with the usual slips. */
function judgeOrdinaryLogits(fn: unknown): Judgement {
  const { n, V, logits } = entropyFacts();
  const expected = referenceLoss(logits);
  const softmaxed = tf.tidy(() => Array.from(tf.softmax(tf.tensor2d(logits, [n, V])).dataSync()));
  return judgeNumber(lossOf(fn, logits), {
    name: "loss",
    expected,
    tolerance: 1e-4 * Math.max(1, expected),
    mistakes: [
      { value: expected * n, hint: "this is the sum over the examples: the loss is their mean" },
      { value: -expected, hint: "the negative log-likelihood is positive: negate" },
      { value: referenceLoss(softmaxed), hint: "are you passing probabilities where the function expects logits?" },
    ],
    hint: "it must equal the hand-written softmax and NLL on ordinary logits: -mean(log softmax(logits)[k, ys[k]])",
  });
}

/** The learner's loss when some logits are near 100, where exp overflows float32. */
function judgeLargeLogits(fn: unknown): Judgement {
  const { logits, big } = entropyFacts();
  const got = lossOf(fn, big);
  if (!Number.isFinite(got)) {
    return incorrect(
      `Your loss is ${got} when some logits are near 100.`,
      "exp(100) does not fit in float32; a library cross-entropy subtracts each row's largest logit first",
    );
  }
  return judgeNumber(got, {
    name: "loss with logits near 100",
    expected: referenceLoss(big),
    tolerance: 1e-3,
    correct: `the same loss as the hand-written softmax and NLL (${fmt(referenceLoss(logits))}), and still right when logits reach 100, where exp overflows float32 and the hand-written form gives NaN.`,
    hint: "on large logits the result must stay the cross-entropy: does your function clip or rescale them?",
  });
}

/**
 * Exercise 1.6: `loss(logits, ys)`: the mean cross-entropy of logits [n, 27]
 * and targets ys [n] (int32) as a scalar, from a library function.
 */
export const checkCrossEntropy = defineCheck(LIBRARY_CROSS_ENTROPY, (fn: unknown): Judgement => {
  const ordinary = judgeOrdinaryLogits(fn);
  return ordinary.verdict === "correct" ? judgeLargeLogits(fn) : ordinary;
});
