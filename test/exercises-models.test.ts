/**
 * The checks of lectures 2, 3 and 5 (notebooks 03, 04, 05, 08): the uniform
 * loss, a start near it, zero initialization, the batch-norm fold and the
 * tuning challenges. Right answers are the worked solutions'; the wrong ones
 * are typical slips, each with the message it must get.
 */
import {
  checkBatchNormFold,
  checkInitialLoss,
  checkLecture2Challenge,
  checkLecture5Challenge,
  checkUniformLoss,
  checkZeroInit,
  CheckResult,
  exerciseData,
} from "../lib/exercises/index";
import { buildContexts } from "../lib/data/contexts";
import { DeepMLP } from "../lib/models/deep";
import { HierarchicalMLP } from "../lib/models/hierarchical";
import { MakemoreBigram } from "../lib/models/makemore-bigram";
import { lectureMlp } from "../lib/models/mlp";
import { BatchNorm1d, Linear } from "../lib/nn/layers";
import { initBackend } from "../lib/runtime/backend";
import { tf, type Tensor } from "../lib/runtime/tf";
import { splitLoss } from "../lib/training/evaluate";
import { train } from "../lib/training/train";

const expectResult = (r: CheckResult, verdict: CheckResult["verdict"], text: RegExp) => {
  expect({ verdict: r.verdict, text: r.toString() }).toEqual({ verdict, text: expect.stringMatching(text) });
};

beforeAll(async () => {
  await initBackend("wasm");
});

const { vocab, split } = exerciseData();
const trainSet = buildContexts(split.train, vocab, 3);

describe("2.1 the loss of a uniform prediction", () => {
  test("accepts -ln(1/27)", () => {
    expectResult(checkUniformLoss(-Math.log(1 / 27)), "correct", /3\.2958: each token gets 1\/27/);
  });
  test("names the probability itself, a base-10 log, a vocabulary without '.'", () => {
    expectResult(checkUniformLoss(1 / 27), "incorrect", /0\.0370 is 3\.2588 too low\.\n.*probability of each token/);
    expectResult(checkUniformLoss(Math.log10(27)), "incorrect", /base-10/);
    expectResult(checkUniformLoss(Math.log(26)), "incorrect", /boundary token '\.' is one of the tokens/);
    expectResult(checkUniformLoss(-3.2958), "incorrect", /negative/);
    expectResult(checkUniformLoss(null), "malformed", /loss should be a number, but it is null/);
  });
});

describe("2.2 an initialization near the uniform loss", () => {
  test("accepts the solution: the output layer scaled to nearly equal logits", () => {
    const model = lectureMlp(27, { init: { w2: 0.01, b2: 0 } });
    expectResult(
      checkInitialLoss(model),
      "correct",
      /starts at 3\.3\d+ on the training split, 0\.0\d+ from the uniform 3\.2958/,
    );
    model.dispose();
  });
  test("names the lecture's confident start, a trained model, a fix of the wrong layer", async () => {
    const original = lectureMlp(27);
    expectResult(
      checkInitialLoss(original),
      "incorrect",
      /starts at \d\d\.\d+.*the lecture's first loss was 27\.88.*\n.*logits are far apart/,
    );
    const fixedW1 = lectureMlp(27, { init: { w1: 0.1 } });
    expectResult(
      checkInitialLoss(fixedW1),
      "incorrect",
      /above the uniform 3\.2958.*\n.*which parameters make the logits/,
    );
    fixedW1.dispose();
    const trained = lectureMlp(27, { init: { w2: 0.01, b2: 0 } });
    await train(trained, trainSet, { steps: 500, progress: false });
    expectResult(checkInitialLoss(trained), "incorrect", /below the uniform 3\.2958\.\n.*learned already/);
    trained.dispose();
    original.dispose();
  });
  test("says what is malformed: not a model, a model of lines, another vocabulary", () => {
    expectResult(
      checkInitialLoss(3.3),
      "malformed",
      /model should be a model \(with forward and parameters\), but it is a number \(3\.3\)/,
    );
    const lines = new MakemoreBigram(27, 16);
    expectResult(checkInitialLoss(lines), "malformed", /reads whole lines/);
    lines.dispose();
    const other = lectureMlp(11);
    expectResult(checkInitialLoss(other), "malformed", /built for 11 tokens; the names have 27/);
    other.dispose();
  });
});

describe("2.3 and 5.1: the challenges", () => {
  let model: ReturnType<typeof lectureMlp>;
  let val: number;
  beforeAll(async () => {
    model = lectureMlp(27, { init: { w2: 0.01, b2: 0 } });
    await train(model, trainSet, { steps: 2000, progress: false });
    val = splitLoss(model, buildContexts(split.val, vocab, 3));
  });
  afterAll(() => model.dispose());
  test("a short run is measured on the val split and falls short, with the gap to the target and a direction", () => {
    expectResult(
      checkLecture2Challenge({ model, steps: 2000, batchSize: 32, val }),
      "incorrect",
      /validation loss 2\.\d+ is 0\.\d+ above the target 2\.1660.*\n.*training loss 2\.\d+ is close to it: the model underfits/,
    );
    expectResult(
      checkLecture5Challenge({ model, steps: 2000, batchSize: 32, val }),
      "incorrect",
      /above the target 1\.9930 \(the lecture's 76,579-parameter network/,
    );
  });
  test("names the training loss reported as val and a budget overrun", () => {
    const trainLoss = splitLoss(model, trainSet);
    expectResult(
      checkLecture2Challenge({ model, steps: 2000, batchSize: 32, val: trainLoss }),
      "incorrect",
      /this is the training loss/,
    );
    expectResult(
      checkLecture5Challenge({ model, steps: 100_000, batchSize: 128, val }),
      "incorrect",
      /12,800,000 examples, over the budget of 6,400,000 \(200,000 steps of 32\)/,
    );
  });
  test("says what is malformed", () => {
    expectResult(checkLecture2Challenge({ model, steps: 2000, val }), "malformed", /the answer has no batchSize/);
    expectResult(
      checkLecture2Challenge({ model, steps: 1.5, batchSize: 32, val }),
      "malformed",
      /steps should be a positive whole number/,
    );
    expectResult(
      checkLecture2Challenge({ model: null, steps: 2000, batchSize: 32, val }),
      "malformed",
      /model should be a model .*but it is null \(no value yet\)/,
    );
  });
});

describe("3.1 all weights and biases zero", () => {
  test("accepts the solution's account: only b2 learns", async () => {
    const r = await checkZeroInit({ stayZero: ["W1", "b1", "W2"], learn: ["b2"] });
    expectResult(
      r,
      "correct",
      /only b2 learns; W1, b1, W2 stay zero and C keeps its random start.*the letter frequencies/,
    );
    expectResult(await checkZeroInit({ stayZero: ["w1", "B1", "w2"], learn: ["B2"] }), "correct", /only b2 learns/);
  });
  test("names W2 thought to learn, b2 thought to stay, C thought to learn", async () => {
    const w2Learns = await checkZeroInit({ stayZero: ["W1", "b1"], learn: ["W2", "b2"] });
    expectResult(
      w2Learns,
      "incorrect",
      /say W2 learns; after training it is still all zeros\.\n.*h = tanh\(emb · W1 \+ b1\) is tanh\(0\) = 0/,
    );
    const nothing = await checkZeroInit({ stayZero: ["W1", "b1", "W2", "b2"], learn: [] });
    expectResult(
      nothing,
      "incorrect",
      /say b2 stays at zero; after training it is changed\.\n.*b2's gradient is dlogits/,
    );
    const cLearns = await checkZeroInit({ stayZero: ["W1", "b1", "W2"], learn: ["C", "b2"] });
    expectResult(
      cLearns,
      "incorrect",
      /say C learns; after training it is unchanged, but not zero\.\n.*never moves from its random start/,
    );
    const twoWrong = await checkZeroInit({ stayZero: ["C", "W1", "b1"], learn: ["W2", "b2"] });
    expectResult(
      twoWrong,
      "incorrect",
      /say C stays at zero.*\(And 1 more to look at after this one\.\)\n.*C is not zero/,
    );
  });
  test("says what is malformed", async () => {
    expectResult(
      await checkZeroInit({ stayZero: ["W3"], learn: [] }),
      "malformed",
      /"W3" in stayZero is not a parameter of the MLP \(C, W1, b1, W2, b2\)/,
    );
    expectResult(
      await checkZeroInit({ stayZero: "W1", learn: [] }),
      "malformed",
      /stayZero should be a list of parameter names/,
    );
    expectResult(await checkZeroInit({ learn: [] }), "malformed", /the answer has no stayZero/);
    expectResult(await checkZeroInit({ stayZero: [], learn: [] }), "malformed", /both lists are empty/);
  });
});

describe("3.2 batch norm folded into the Linear before it", () => {
  /** A fold that scales each feature by `scale(bn)`: the worked solution's with gamma / sqrt(var + eps). */
  const foldWith =
    (scale: (bn: BatchNorm1d) => Tensor) =>
    (linear: Linear, bn: BatchNorm1d): Linear => {
      const folded = new Linear(linear.fanIn, linear.fanOut);
      tf.tidy(() => {
        const s = scale(bn); // [fanOut]
        const bias = linear.bias ?? tf.zeros([linear.fanOut]);
        folded.weight.assign(linear.weight.mul(s));
        folded.bias!.assign(bias.sub(bn.runningMean).mul(s).add(bn.beta));
      });
      return folded;
    };
  const fold = foldWith((bn) => bn.gamma.div(bn.runningVar.add(bn.eps).sqrt()));
  test("accepts the solution's fold, on single layers and on every pair of a trained DeepMLP", async () => {
    expectResult(
      checkBatchNormFold(fold),
      "correct",
      /with and without a bias, and leaves the original layers as they were\.$/,
    );
    const net = new DeepMLP({ vocabSize: 27 });
    await train(net, trainSet, { steps: 300, progress: false });
    const before = tf.memory().numTensors;
    expectResult(
      checkBatchNormFold({ fold, net }),
      "correct",
      /Your network's 6 pairs folded: its logits on 2,048 val contexts move by \d\.\de-\d+ of the largest; val loss 2\.\d+/,
    );
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });
  test("names a missing shift, a variance for a deviation, a fold in place, a fold that needs a bias", () => {
    const noBeta = (linear: Linear, bn: BatchNorm1d) => {
      const folded = fold(linear, bn);
      folded.bias!.assign(folded.bias!.sub(bn.beta));
      return folded;
    };
    expectResult(
      checkBatchNormFold(noBeta),
      "incorrect",
      /differ from Linear then BatchNorm1d.*\n.*shift beta is missing/,
    );
    const byVariance = foldWith((bn) => bn.gamma.div(bn.runningVar.add(bn.eps)));
    expectResult(
      checkBatchNormFold(byVariance),
      "incorrect",
      /Hint: batch norm divides by the standard deviation sqrt\(var \+ eps\), not by the variance/,
    );
    const inPlace = (linear: Linear, bn: BatchNorm1d) => {
      const folded = fold(linear, bn);
      linear.weight.assign(folded.weight);
      return folded;
    };
    expectResult(checkBatchNormFold(inPlace), "incorrect", /changed the layers it was given/);
    const needsBias = (linear: Linear, bn: BatchNorm1d) => {
      const folded = fold(linear, bn);
      folded.bias!.assign(
        linear
          .bias!.sub(bn.runningMean)
          .mul(bn.gamma.div(bn.runningVar.add(bn.eps).sqrt()))
          .add(bn.beta),
      );
      return folded;
    };
    expectResult(
      checkBatchNormFold(needsBias),
      "malformed",
      /threw an error: .* for a Linear without bias \(as in DeepMLP\)/,
    );
  });
  test("says what is malformed: no layer, a layer without bias", () => {
    expectResult(
      checkBatchNormFold(() => null),
      "malformed",
      /should return a Linear layer/,
    );
    const noBias = (linear: Linear) => new Linear(linear.fanIn, linear.fanOut, { bias: false });
    expectResult(checkBatchNormFold(noBias), "malformed", /the folded layer has no bias/);
    expectResult(
      checkBatchNormFold({ net: null }),
      "malformed",
      /fold\(linear, bn\) should be a function, but it is undefined/,
    );
  });
});

describe("the hierarchical model reads its own block size", () => {
  test("the challenge builds the val contexts of 8 characters for it", () => {
    const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 4, nHidden: 16 });
    const val = splitLoss(model, buildContexts(split.val, vocab, 8));
    expectResult(
      checkLecture5Challenge({ model, steps: 1, batchSize: 32, val }),
      "incorrect",
      /validation loss 3\.\d+ is/,
    );
    model.dispose();
  });
});
