import { initBackend } from "../lib/runtime/backend";
import { modelSampler, nextTokenProbs, sampleFromModel, splitLoss, splitLosses } from "../lib/training/evaluate";
import type { Contexts } from "../lib/data/contexts";
import { INIT_PRESETS, MLP } from "../lib/models/mlp";
import type { LanguageModel } from "../lib/models/model";
import { NeuralBigram } from "../lib/models/nn-bigram";
import { Generator } from "../lib/random/generator";
import { sampleWords } from "../lib/models/sample";
import { tf } from "../lib/runtime/tf";
import { downsample, formatDuration, progressHtml, progressText, sparklineSvg } from "../lib/notebook/progress";
import { learningRate } from "../lib/training/schedule";
import { sampleBatch } from "../lib/data/examples";
import {
  train,
  train as trainWith,
  TrainingDivergedError,
  type EvalRecord,
  type ProgressInfo,
  type TrainOptions,
  type TrainResult,
} from "../lib/training/train";
import { describeEachBackend } from "./support/backends";
import { paramValues, smallSplit, VOCAB } from "./support/training";

const split = smallSplit(600, 3);

/** A small MLP with the fixed init, quick to train. */
function smallMlp(seed = 1, batchNorm = false): MLP {
  return new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed, init: INIT_PRESETS.kaiming, batchNorm });
}

describe("schedules and batches", () => {
  test("learningRate: constant, step decay at decayAt, function", () => {
    expect(learningRate(0.1, 5)).toBe(0.1);
    const decay = { lr: 0.1, decayAt: 100000, decayedLr: 0.01 };
    expect(learningRate(decay, 99999)).toBe(0.1);
    expect(learningRate(decay, 100000)).toBe(0.01);
    expect(learningRate((s) => 1 / (s + 1), 3)).toBe(0.25);
  });

  test("sampleBatch draws whole examples with the seeded generator", () => {
    const data = split.train;
    const a = sampleBatch(data, 8, new Generator(3));
    const b = sampleBatch(data, 8, new Generator(3));
    expect(a).toEqual(b);
    const g = new Generator(3);
    for (let i = 0; i < 8; i++) {
      const r = g.randint(0, data.n);
      expect(Array.from(a.X.subarray(i * 3, i * 3 + 3))).toEqual(Array.from(data.X.subarray(r * 3, r * 3 + 3)));
      expect(a.Y[i]).toBe(data.Y[r]);
    }
  });

  test("progress text, sparkline and durations", () => {
    const info: ProgressInfo = {
      label: "mlp",
      done: 500,
      total: 2000,
      loss: 2.34567,
      lr: 0.1,
      stepsPerSecond: 250,
      log10Losses: [0.5, 0.45, 0.4, 0.38],
      lastEval: { step: 500, losses: { train: 2.3, val: 2.4 } },
      finished: false,
    };
    expect(progressText(info)).toBe(
      "mlp step  500/2000  loss 2.3457  lr 0.100  250 steps/s  eta 6s  [eval @500: train 2.3000, val 2.4000]",
    );
    expect(progressHtml(info)).toContain("<polyline");
    expect(sparklineSvg([1])).not.toContain("polyline");
    expect(downsample([1, 2, 3, 4, 5, 6], 3)).toEqual([1.5, 3.5, 5.5]);
    expect(downsample([1, NaN, 3], 5)).toEqual([1, 3]);
    expect(formatDuration(5)).toBe("5s");
    expect(formatDuration(185)).toBe("3m05s");
    expect(formatDuration(3720)).toBe("1h02m");
  });
});

// The loop's behaviour is the same whichever engine runs the steps: every test runs on both.
describe.each(["fused", "tfjs"] as const)("engine %s:", (engine) => {
  describeEachBackend("train", () => {
    /** train() with this block's engine */
    const train = (model: LanguageModel, data: Contexts, options: TrainOptions): Promise<TrainResult> =>
      trainWith(model, data, { engine, ...options });

    test("the same seed gives the same losses; another seed does not", async () => {
      const run = async (seed: number): Promise<number[]> => {
        const model = smallMlp();
        const r = await train(model, split.train, { steps: 60, seed, lr: 0.1, progress: false });
        model.dispose();
        return r.losses;
      };
      const a = await run(5);
      expect(a).toHaveLength(60);
      expect(await run(5)).toEqual(a);
      expect(await run(6)).not.toEqual(a);
    });

    test("training lowers the loss, and log10 losses follow the raw ones", async () => {
      const model = smallMlp();
      const before = splitLoss(model, split.val);
      const r = await train(model, split.train, { steps: 200, lr: 0.3, progress: false, syncEvery: 37 });
      expect(r.steps).toBe(200);
      expect(r.stoppedEarly).toBe(false);
      r.log10Losses.forEach((v, i) => expect(v).toBeCloseTo(Math.log10(r.losses[i] as number), 10));
      expect(splitLoss(model, split.val)).toBeLessThan(before - 0.3);
      model.dispose();
    });

    test("onStep sees every loss in order; onEval gets the split losses; a 'stop' ends the run", async () => {
      const model = smallMlp();
      const seen: [number, number, number][] = [];
      const evals: EvalRecord[] = [];
      const r = await train(model, split.train, {
        steps: 1000,
        startStep: 100,
        lr: { lr: 0.1, decayAt: 150, decayedLr: 0.01 },
        progress: false,
        syncEvery: 30,
        evalEvery: 40,
        evalSplits: { train: split.train, val: split.val },
        onStep: (step, loss, lr) => {
          seen.push([step, loss, lr]);
        },
        onEval: (e) => {
          evals.push(e);
          return e.step >= 180 ? "stop" : undefined;
        },
      });
      expect(r.stoppedEarly).toBe(true);
      expect(r.steps).toBe(80);
      expect(seen.map((s) => s[0])).toEqual(Array.from({ length: 80 }, (_, i) => 100 + i));
      expect(seen.map((s) => s[1])).toEqual(r.losses);
      expect(seen[49]?.[2]).toBe(0.1);
      expect(seen[50]?.[2]).toBe(0.01);
      expect(evals.map((e) => e.step)).toEqual([140, 180]);
      expect(r.evals).toEqual(evals);
      // evaluation runs on the training engine
      const onEngine = { engine: r.engine };
      expect(evals[1]?.losses).toEqual(splitLosses(model, { train: split.train, val: split.val }, onEngine));
      model.dispose();
    });

    test("onGrads sees the gradients every k steps, before the update p -= lr * grad", async () => {
      const model = new NeuralBigram({ vocabSize: 27, seed: 3 });
      const data = smallSplit(300, 1).train;
      const steps: number[] = [];
      await train(model, data, {
        steps: 12,
        lr: 10,
        gradsEvery: 5,
        progress: false,
        onGrads: (step, grads, lr) => {
          steps.push(step);
          expect(grads.get(model.W)?.shape).toEqual([27, 27]);
          expect(lr).toBe(10);
        },
      });
      expect(steps).toEqual([0, 5, 10]);

      const w0 = Array.from(model.W.dataSync());
      let seen: number[] = [];
      let grad: number[] = [];
      await train(model, data, {
        steps: 1,
        lr: 10,
        progress: false,
        onGrads: (_step, grads) => {
          seen = Array.from(model.W.dataSync());
          grad = Array.from(grads.get(model.W)?.dataSync() ?? []);
        },
      });
      expect(seen).toEqual(w0);
      const w1 = Array.from(model.W.dataSync());
      w1.forEach((v, i) => expect(v).toBeCloseTo((w0[i] as number) - 10 * (grad[i] as number), 4));
      model.dispose();
    });

    test.each([1, 7, 200])(
      "stops at the first non-finite loss and restores finite parameters (sync every %i)",
      async (syncEvery) => {
        const model = new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed: 1 });
        const history: Float32Array[][] = [];
        let error: unknown;
        try {
          await train(model, split.train, {
            steps: 500,
            // the rate grows tenfold each step, so the parameters overflow after a few dozen steps
            lr: (step) => 10 ** step,
            syncEvery,
            progress: false,
            // parameters as they are when step s computes its loss
            onGrads: () => void history.push(paramValues(model)),
          });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(TrainingDivergedError);
        const err = error as TrainingDivergedError;
        expect(err.message).toMatch(/^training diverged: the loss at step \d+ is (NaN|Infinity) \(not finite\)/);
        expect(err.message).toContain(`step ${err.step}`);
        expect(err.message).toContain(`restored to those of step ${err.restoredStep}`);
        expect(err.restoredStep).toBeGreaterThanOrEqual(0);
        expect(err.restoredStep).toBeLessThan(err.step);
        expect(err.result.losses).toHaveLength(err.step + 1);
        expect(Number.isFinite(err.result.losses[err.restoredStep] as number)).toBe(true);
        const now = paramValues(model);
        now.forEach((p) => p.forEach((v) => expect(Number.isFinite(v)).toBe(true)));
        expect(now).toEqual(history[err.restoredStep]);
        model.dispose();
      },
    );

    test("chunked splitLoss equals the one-shot loss", () => {
      const model = smallMlp(3, true);
      const oneShot = splitLoss(model, split.val, { chunkSize: split.val.n });
      expect(splitLoss(model, split.val, { chunkSize: 7 })).toBeCloseTo(oneShot, 5);
      expect(splitLoss(model, split.val, { chunkSize: 1000000 })).toBeCloseTo(oneShot, 5);
      model.dispose();
    });

    test("modelSampler gives softmax probabilities; sampling is seeded", () => {
      const model = smallMlp(4);
      const p = nextTokenProbs(model, [0, 0, 0]);
      expect(p).toHaveLength(27);
      expect(Array.from(p).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
      const a = sampleFromModel(model, VOCAB, 4, 7);
      expect(a).toEqual(sampleFromModel(model, VOCAB, 4, 7));
      expect(a).toEqual(
        sampleWords(modelSampler(model), VOCAB, 4, { blockSize: 3, generator: new Generator(7), maxLength: 1000 }),
      );
      expect(() => nextTokenProbs(model, [0])).toThrow("the model reads 3 tokens of context, got 1");
      model.dispose();
    });

    test("a progress function gets updates and a final one", async () => {
      const model = smallMlp();
      const infos: ProgressInfo[] = [];
      await train(model, split.train, { steps: 50, progress: (i) => void infos.push({ ...i }), label: "t" });
      const last = infos[infos.length - 1] as ProgressInfo;
      expect(last.finished).toBe(true);
      expect(last.done).toBe(50);
      expect(last.log10Losses).toHaveLength(50);
      model.dispose();
    });

    test("rejects bad options", async () => {
      const model = smallMlp();
      await expect(train(model, split.train, { steps: 1.5 })).rejects.toThrow("steps must be a non-negative integer");
      await expect(train(model, split.train, { steps: 1, batchSize: 0 })).rejects.toThrow("batchSize");
      await expect(train(model, smallSplit(50, 2).train, { steps: 1 })).rejects.toThrow("tokens of context");
      model.dispose();
    });
  });
});

describe("train on wasm", () => {
  // the loop's bookkeeping is the same on every backend; the cpu backend is several times slower
  beforeAll(async () => {
    await initBackend("wasm");
  });

  test.each(["fused", "tfjs"] as const)(
    "does not leak tensors: the count after 10,000 steps (1,000 on tfjs) equals the count after 10 (%s)",
    async (engine) => {
      const model = smallMlp(2, true);
      const options = {
        engine,
        lr: 0.05,
        progress: false,
        evalEvery: 250,
        evalSplits: { val: split.val },
        onGrads: () => undefined,
        gradsEvery: 100,
      };
      await train(model, split.train, { steps: 10, ...options });
      const after10 = tf.memory().numTensors;
      await train(model, split.train, { steps: engine === "fused" ? 10_000 : 1000, ...options });
      expect(tf.memory().numTensors).toBe(after10);
      await train(model, split.train, { steps: 3, batchSize: "full", lr: 0.05, progress: false, engine });
      expect(tf.memory().numTensors).toBe(after10);
      model.dispose();
    },
  );
});

describe("backends agree", () => {
  test("wasm and cpu give the same losses within float tolerance (tfjs engine)", async () => {
    const run = async (backend: "wasm" | "cpu"): Promise<{ losses: number[]; val: number }> => {
      await initBackend(backend);
      const model = smallMlp(8, true);
      const r = await train(model, split.train, { steps: 50, lr: 0.1, progress: false, engine: "tfjs" });
      const val = splitLoss(model, split.val);
      model.dispose();
      return { losses: r.losses, val };
    };
    const wasm = await run("wasm");
    const cpu = await run("cpu");
    cpu.losses.forEach((v, i) => expect(v).toBeCloseTo(wasm.losses[i] as number, 3));
    expect(cpu.val).toBeCloseTo(wasm.val, 3);
  });
});
