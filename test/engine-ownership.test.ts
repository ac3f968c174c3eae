/**
 * The fused engine owns the parameters during a run (lib/engines/fused-engine.ts)
 * and train() never reads them behind its back: every place a caller can look
 * at the model's variables — onStep, onEval, a progress function, onGrads,
 * after train() returns, after TrainingDivergedError, after a callback threw
 * — sees the state the steps so far left, as a tfjs-engine run of the same
 * seed sees it (where the variables are the state). A stale read would show
 * the parameters of an earlier step: tens of SGD steps away, far beyond the
 * two engines' rounding.
 */
import type * as tfjs from "@tensorflow/tfjs";
import { modelState } from "../lib/models/model";
import { INIT_PRESETS, MLP } from "../lib/models/mlp";
import { initBackend } from "../lib/runtime/backend";
import { train, TrainingDivergedError, type TrainOptions } from "../lib/training/train";
import { smallSplit } from "./support/training";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

const split = smallSplit(600, 3);
const make = (): MLP =>
  new MLP({
    vocabSize: 27,
    nEmbd: 4,
    nHidden: 24,
    batchNorm: true,
    bnMomentum: 0.1,
    seed: 3,
    init: INIT_PRESETS.kaiming,
  });

/** Copies of the values of the model's parameters and running statistics. */
const read = (m: MLP): Float32Array[] =>
  modelState(m).map((v: tfjs.Variable) => (v.dataSync() as Float32Array).slice());

/** What each path saw, in order, on one engine. */
type Seen = Record<string, Float32Array[][]>;

/** Trains with every callback recording the variables; `end` is what they hold after train() returns or throws. */
async function observe(engine: "fused" | "tfjs", options: Partial<TrainOptions>): Promise<Seen> {
  const model = make();
  const seen: Seen = { onStep: [], onEval: [], progress: [], onGrads: [], end: [] };
  const look = (path: string): void => void seen[path]!.push(read(model));
  try {
    await train(model, split.train, {
      ...{ steps: 40, lr: 0.2, seed: 5, engine, syncEvery: 7, evalEvery: 10, evalSplits: { val: split.val } },
      onStep: () => look("onStep"),
      onEval: () => look("onEval"),
      progress: (info) => void (info.done > 0 && look("progress")),
      onGrads: () => look("onGrads"),
      gradsEvery: 6,
      ...options,
    });
  } catch (e) {
    seen.error = [[Float32Array.of(e instanceof TrainingDivergedError ? e.restoredStep : -1)]];
  }
  look("end");
  model.dispose();
  return seen;
}

/** Largest |a - b| over the largest |b|, over every array of every observation. */
function worst(a: Float32Array[][], b: Float32Array[][]): number {
  expect(a.length).toBe(b.length);
  let [diff, scale] = [0, 1e-30];
  a.forEach((arrays, i) =>
    arrays.forEach((x, j) =>
      x.forEach((v, k) => {
        const w = b[i]![j]![k] as number;
        diff = Math.max(diff, Number.isNaN(v - w) ? Infinity : Math.abs(v - w));
        scale = Math.max(scale, Math.abs(w));
      }),
    ),
  );
  return diff / scale;
}

/** Both engines, the same seed: every path sees the same state, to the engines' rounding. */
async function expectSameEverywhere(options: Partial<TrainOptions>): Promise<Seen> {
  const fused = await observe("fused", options);
  const ref = await observe("tfjs", options);
  for (const path of Object.keys(ref)) {
    expect([path, fused[path]!.length]).toEqual([path, ref[path]!.length]);
    expect([path, worst(fused[path]!, ref[path]!) < 1e-4]).toEqual([path, true]);
  }
  return fused;
}

test("every callback and the end of the run see the variables of the steps done", async () => {
  const seen = await expectSameEverywhere({});
  // a stale read would repeat an earlier state: the observations differ from one another
  expect(worst(seen.onStep!.slice(0, 1), seen.onStep!.slice(-1))).toBeGreaterThan(1e-2);
  for (const path of ["onStep", "onEval", "progress", "onGrads"]) expect(seen[path]!.length).toBeGreaterThan(2);
});

test("without callbacks, the variables after the run hold its last state", async () => {
  const quiet = { onStep: undefined, onEval: undefined, onGrads: undefined, progress: false } as const;
  const seen = await expectSameEverywhere(quiet);
  expect(seen.onStep).toHaveLength(0);
  const fresh = read(make());
  expect(worst([fresh], seen.end!)).toBeGreaterThan(1e-2); // 40 steps from the start
});

test("after TrainingDivergedError the variables hold the restored state", async () => {
  // finite for 23 steps, then the rate overflows the parameters (the hooks look at step 0 and 20 only)
  const seen = await expectSameEverywhere({ lr: (step) => (step < 23 ? 0.2 : 1e30), gradsEvery: 20 });
  expect(seen.error?.[0]?.[0]?.[0]).toBeGreaterThan(0);
});

test("after a callback throws the variables hold the steps done", async () => {
  const seen = await expectSameEverywhere({
    onStep: (step) => {
      if (step === 17) throw new Error("stop here");
    },
  });
  expect(seen.error?.[0]?.[0]?.[0]).toBe(-1);
});
