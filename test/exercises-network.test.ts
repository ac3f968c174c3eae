/**
 * The checks of lecture 1's network exercises (notebook 02): a trigram
 * network, row indexing, a library cross-entropy. The right answers are the
 * worked solution's (notebooks/solutions/lecture-1.ipynb); the wrong ones are
 * the slips a learner makes.
 */
import type * as tfjs from "@tensorflow/tfjs";
import {
  checkCrossEntropy,
  checkRowIndexing,
  checkTrigramNetwork,
  CheckResult,
  exerciseData,
} from "../lib/exercises/index";
import { buildContexts } from "../lib/data/contexts";
import type { LanguageModel } from "../lib/models/model";
import { bigramCounts, countsToProbs } from "../lib/models/counts";
import { embedding, crossEntropy } from "../lib/nn/ops";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { splitLoss } from "../lib/training/evaluate";
import { train } from "../lib/training/train";

const expectResult = (r: CheckResult, verdict: CheckResult["verdict"], text: RegExp) => {
  expect({ verdict: r.verdict, text: r.toString() }).toEqual({ verdict, text: expect.stringMatching(text) });
};

/** The solution's trigram network: one row of 27 logits per pair of characters, W[27·a + b]. */
class TrigramNet implements LanguageModel {
  readonly blockSize = 2;
  readonly vocabSize = 27;
  readonly W = tf.variable(tf.zeros([27 * 27, 27]));
  parameters(): tfjs.Variable[] {
    return [this.W];
  }
  forward(X: tfjs.Tensor2D): tfjs.Tensor2D {
    return tf.tidy(() => {
      const pair = X.slice([0, 0], [-1, 1])
        .mul(tf.scalar(27, "int32"))
        .add(X.slice([0, 1], [-1, 1]))
        .reshape([-1]);
      return embedding(this.W as tfjs.Tensor2D, pair) as tfjs.Tensor2D;
    });
  }
  dispose(): void {
    this.W.dispose();
  }
}

beforeAll(async () => {
  await initBackend("wasm");
});

describe("1.4 trigram by a network", () => {
  const { words, vocab } = exerciseData();
  const trigrams = buildContexts(words, vocab, 2);
  let net: TrigramNet;
  let loss: number;
  beforeAll(async () => {
    net = new TrigramNet();
    await train(net, trigrams, { steps: 300, batchSize: 1024, lr: 0.1, optimizer: "adamw", progress: false });
    loss = splitLoss(net, trigrams);
  });
  afterAll(() => net.dispose());

  test("accepts the solution's network and its loss", () => {
    expect(loss).toBeLessThan(2.3);
    const logits = (X: tfjs.Tensor2D) => net.forward(X);
    expectResult(
      checkTrigramNetwork({ logits, loss }),
      "correct",
      /NLL over all 228,146 trigrams is 2\.2\d+, 0\.2\d+ below the bigram's 2\.4546/,
    );
  });
  test("names a network that reads one character, a loss with the regularization term, an untrained network", () => {
    // the best a network reading only the last character can do: the bigram's log-probabilities
    const logP = tf.log(tf.tensor2d(countsToProbs(bigramCounts(words, vocab), 1)));
    const bigram = (X: tfjs.Tensor2D) => tf.gather(logP, X.slice([0, 1], [-1, 1]).reshape([-1]));
    expectResult(
      checkTrigramNetwork({ logits: bigram, loss: 2.4546 }),
      "incorrect",
      /not clearly below.*\n.*read both characters/,
    );
    const regularized = loss + 0.01 * tf.mean(tf.square(net.W)).dataSync()[0]! + 0.01;
    expectResult(
      checkTrigramNetwork({ logits: (X: tfjs.Tensor2D) => net.forward(X), loss: regularized }),
      "incorrect",
      /not the NLL of your network.*\n.*regularization term/,
    );
    const untrained = new TrigramNet();
    const flat = (X: tfjs.Tensor2D) => untrained.forward(X);
    expectResult(
      checkTrigramNetwork({ logits: flat, loss: Math.log(27) }),
      "incorrect",
      /3\.29\d\d is not clearly below.*\n.*train longer/,
    );
    untrained.dispose();
  });
  test("says what is malformed: probabilities, a wrong shape, an error inside", () => {
    const probs = (X: tfjs.Tensor2D) => tf.softmax(net.forward(X));
    expectResult(checkTrigramNetwork({ logits: probs, loss }), "malformed", /logits\(X\) returns probabilities/);
    const threeD = (X: tfjs.Tensor2D) => net.forward(X).expandDims(1);
    expectResult(
      checkTrigramNetwork({ logits: threeD, loss }),
      "malformed",
      /shape \[8192, 1, 27\]; expected \[8192, 27\]/,
    );
    const broken = () => {
      throw new Error("W is not defined");
    };
    expectResult(
      checkTrigramNetwork({ logits: broken, loss }),
      "malformed",
      /logits\(X\) threw an error: W is not defined/,
    );
    expectResult(
      checkTrigramNetwork({ logits: null, loss }),
      "malformed",
      /logits\(X\) should be a function, but it is null/,
    );
  });
});

describe("1.5 row indexing instead of the one-hot product", () => {
  const rows = (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => embedding(W, xs);
  test("accepts the solution: the lib's embedding lookup", () => {
    expectResult(checkRowIndexing(rows), "correct", /the same gradient for W, without the 228,146 × 27 one-hot matrix/);
  });
  test("names columns instead of rows, a one-hot product, a gather without gradient on wasm", () => {
    const columns = (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => tf.gather(W, xs, 1);
    expectResult(
      checkRowIndexing(columns),
      "malformed",
      /shape \[27, 228146\]: one column per input\n.*rows \(axis 0\)/,
    );
    const transposed = (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => tf.gather(tf.transpose(W), xs);
    expectResult(checkRowIndexing(transposed), "incorrect", /differ from the one-hot product's.*\n.*column xs\[k\]/);
    const product = (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => tf.matMul(tf.oneHot(xs, 27).toFloat(), W);
    expectResult(checkRowIndexing(product), "incorrect", /still builds one-hot rows/);
    const gather = (W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => tf.gather(W, xs);
    expectResult(
      checkRowIndexing(gather),
      "incorrect",
      /values are right, but tfjs cannot take the gradient .* on the wasm backend.*\n.*embedding\(W, xs\)/,
    );
    expectResult(checkRowIndexing(undefined), "malformed", /rows\(W, xs\) should be a function, but it is undefined/);
  });
  test("accepts tf.gather where the backend can differentiate it (cpu)", async () => {
    await initBackend("cpu");
    try {
      expectResult(
        checkRowIndexing((W: tfjs.Tensor2D, xs: tfjs.Tensor1D) => tf.gather(W, xs)),
        "correct",
        /same gradient/,
      );
    } finally {
      await initBackend("wasm");
    }
  });
});

describe("1.6 a library cross-entropy", () => {
  test("accepts the solution (tf.losses.softmaxCrossEntropy) and the lib's crossEntropy", () => {
    const library = (logits: tfjs.Tensor2D, ys: tfjs.Tensor1D) =>
      tf.losses.softmaxCrossEntropy(tf.oneHot(ys, 27), logits);
    expectResult(checkCrossEntropy(library), "correct", /still right when logits reach 100/);
    expectResult(checkCrossEntropy(crossEntropy), "correct", /same loss as the hand-written softmax and NLL/);
  });
  test("names the hand-written form's overflow, a sum, integer labels, one loss per example", () => {
    const byHand = (logits: tfjs.Tensor2D, ys: tfjs.Tensor1D) => {
      const counts = logits.exp();
      const probs = counts.div(counts.sum(1, true));
      return probs.mul(tf.oneHot(ys, 27)).sum(1).log().mean().neg();
    };
    expectResult(
      checkCrossEntropy(byHand),
      "incorrect",
      /loss is NaN when some logits are near 100\.\n.*exp\(100\) does not fit in float32/,
    );
    const summed = (logits: tfjs.Tensor2D, ys: tfjs.Tensor1D) =>
      tf.losses.softmaxCrossEntropy(tf.oneHot(ys, 27), logits, undefined, undefined, tf.Reduction.SUM);
    expectResult(checkCrossEntropy(summed), "incorrect", /too high\.\n.*sum over the examples/);
    // integer targets where one-hot labels belong (a type error in TypeScript; a shape error at run time)
    const intLabels = (logits: tfjs.Tensor2D, ys: tfjs.Tensor1D) =>
      tf.losses.softmaxCrossEntropy(ys as unknown as tfjs.Tensor2D, logits);
    expectResult(
      checkCrossEntropy(intLabels),
      "malformed",
      /threw an error: .*\n.*one-hot labels, tf\.oneHot\(ys, 27\)/,
    );
    const perExample = (logits: tfjs.Tensor2D, ys: tfjs.Tensor1D) =>
      tf.losses.softmaxCrossEntropy(tf.oneHot(ys, 27), logits, undefined, undefined, tf.Reduction.NONE);
    expectResult(checkCrossEntropy(perExample), "malformed", /returns 100 losses, one per example/);
  });
});
