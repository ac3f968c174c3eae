/**
 * Lecture 4's exercise network (lib/nn/backprop.ts): its size, the hand-written
 * backward pass against tfjs autodiff, the fused cross-entropy and batch-norm
 * forms, and training with the hand-written pass alone (lib/training/by-hand.ts).
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import {
  autodiffGradients,
  batchNormBackward,
  compareGradient,
  crossEntropyBackward,
  EXERCISE_PARAM_NAMES,
  exerciseBackward,
  exerciseForward,
  exerciseParamList,
  exerciseParams,
  exerciseStep,
  formatComparison,
} from "../lib/nn/backprop";
import { byHandSplitLoss, calibrateByHand, trainByHand } from "../lib/notebook/by-hand";
import { TorchGenerator } from "../lib/random/torch";
import { tf } from "../lib/runtime/tf";
import { smallSplit } from "./support/training";

beforeAll(async () => {
  await initBackend("cpu");
});

/** A batch of 32 contexts of the names. */
function batch(): { X: tfjs.Tensor2D; Y: tfjs.Tensor1D } {
  const data = smallSplit(400, 3).train;
  const g = new TorchGenerator(1);
  const rows = Array.from({ length: 32 }, () => g.randint(0, data.n));
  const X = rows.flatMap((r) => Array.from(data.X.subarray(3 * r, 3 * r + 3)));
  return {
    X: tf.tensor2d(X, [32, 3], "int32"),
    Y: tf.tensor1d(
      rows.map((r) => data.Y[r] as number),
      "int32",
    ),
  };
}

describe("the exercise network", () => {
  test("has the lecture's 4,137 parameters, and 12,297 with 200 hidden units", () => {
    const count = (p: ReturnType<typeof exerciseParams>): number =>
      exerciseParamList(p).reduce((n, v) => n + v.size, 0);
    const small = exerciseParams();
    const big = exerciseParams({ nHidden: 200 });
    expect(count(small)).toBe(4137);
    expect(count(big)).toBe(12297);
    tf.dispose([...exerciseParamList(small), ...exerciseParamList(big)]);
  });

  test("C is the lecture's torch.randn under seed 2147483647", () => {
    const p = exerciseParams();
    const expected = new TorchGenerator(2147483647).randnArray(270);
    expect(Array.from(p.C.dataSync().slice(0, 5))).toEqual(Array.from(expected.slice(0, 5)));
    tf.dispose(exerciseParamList(p));
  });

  test("the hand-written backward pass matches autodiff for every parameter", () => {
    const p = exerciseParams();
    const { X, Y } = batch();
    tf.tidy(() => {
      const auto = autodiffGradients(p, X, Y);
      const manual = exerciseBackward(p, exerciseForward(p, X, Y), X, Y);
      for (const name of EXERCISE_PARAM_NAMES) {
        const c = compareGradient(name, manual[name], auto.get(name) as tfjs.Tensor);
        expect(c.maxDiff).toBeLessThan(1e-6);
      }
    });
    tf.dispose([X, Y, ...exerciseParamList(p)]);
  });

  test("one step without a tape is the SGD step of autodiff's gradients, and returns the loss before it", () => {
    const p = exerciseParams();
    const { X, Y } = batch();
    const lr = 0.5; // large, so that a missing or doubled update of any parameter shows
    let expected: number[][] = [];
    let lossBefore = NaN;
    tf.tidy(() => {
      const auto = autodiffGradients(p, X, Y);
      expected = EXERCISE_PARAM_NAMES.map((name) =>
        Array.from(tf.sub(p[name], tf.mul(auto.get(name) as tfjs.Tensor, lr)).dataSync()),
      );
      lossBefore = exerciseForward(p, X, Y).loss.dataSync()[0] as number;
    });
    const loss = exerciseStep(p, X, Y, lr);
    expect(loss.dataSync()[0]).toBeCloseTo(lossBefore, 6);
    EXERCISE_PARAM_NAMES.forEach((name, i) => {
      const got = Array.from(p[name].dataSync());
      got.forEach((v, j) => expect(v).toBeCloseTo(expected[i]?.[j] as number, 5));
    });
    // the step moved the parameters: the same batch now has a lower loss
    expect(tf.tidy(() => exerciseForward(p, X, Y).loss.dataSync()[0] as number)).toBeLessThan(lossBefore);
    tf.dispose([loss, X, Y, ...exerciseParamList(p)]);
  });

  test("the fused cross-entropy and batch-norm forms match autodiff's intermediate gradients", () => {
    const p = exerciseParams();
    const { X, Y } = batch();
    tf.tidy(() => {
      const auto = autodiffGradients(p, X, Y);
      const f = exerciseForward(p, X, Y);
      const dlogits = crossEntropyBackward(f.logits as tfjs.Tensor2D, Y);
      expect(compareGradient("logits", dlogits, auto.get("logits") as tfjs.Tensor).maxDiff).toBeLessThan(1e-7);
      const dhprebn = batchNormBackward(auto.get("hpreact") as tfjs.Tensor, f.bnraw, p.bngain, f.bnvarInv);
      expect(compareGradient("hprebn", dhprebn, auto.get("hprebn") as tfjs.Tensor).maxDiff).toBeLessThan(1e-6);
      // every intermediate has a gradient of its own shape
      expect(auto.get("bnvarInv")?.shape).toEqual([1, 64]);
      expect(auto.get("emb")?.shape).toEqual([32, 3, 10]);
    });
    tf.dispose([X, Y, ...exerciseParamList(p)]);
  });

  test("compareGradient tells exact from approximate, and prints like the lecture", () => {
    tf.tidy(() => {
      const a = tf.tensor([1, 2, 3]);
      expect(compareGradient("a", a, a)).toEqual({ name: "a", exact: true, approximate: true, maxDiff: 0 });
      const c = compareGradient("b", tf.tensor([1, 2, 3.00001]), a);
      expect([c.exact, c.approximate]).toEqual([false, true]);
      expect(compareGradient("c", tf.tensor([1, 2, 3.1]), a).approximate).toBe(false);
      expect(formatComparison(c)).toMatch(/^b +\| exact: false \| approximate: true {2}\| maxdiff: \d\.\de-\d$/);
      expect(() => compareGradient("d", tf.zeros([2]), a)).toThrow(RangeError);
    });
  });

  test("training with the hand-written pass alone lowers the loss", async () => {
    const split = smallSplit(400, 3);
    const p = exerciseParams();
    const before = tf.tidy(() => byHandSplitLoss(p, split.train, calibrateByHand(p, split.train)));
    const run = await trainByHand(p, split.train, {
      steps: 120,
      lr: 0.1,
      generator: new TorchGenerator(2),
      progress: false,
      syncEvery: 64,
    });
    expect(run.losses).toHaveLength(120);
    const stats = calibrateByHand(p, split.train);
    const after = byHandSplitLoss(p, split.train, stats, 100); // chunked: the same mean
    expect(after).toBeLessThan(before - 0.2);
    expect(byHandSplitLoss(p, split.train, stats)).toBeCloseTo(after, 4);
    tf.dispose([stats.mean, stats.variance, ...exerciseParamList(p)]);
  });
});
