/**
 * The one engine interface: which engine serves which model, and the two
 * engines giving the same numbers for every optimizer, evaluation included.
 */
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { createEngine, evaluateLoss, planEngine } from "../lib/engines/factory";
import { sampleBatchInto } from "../lib/data/examples";
import { INIT_PRESETS, MLP } from "../lib/models/mlp";
import type { SequenceModel } from "../lib/models/model";
import { NeuralTrigram } from "../lib/models/trigram";
import { Generator } from "../lib/random/generator";
import { AdamW, SGD, type Optimizer } from "../lib/optim/optimizers";
import { train } from "../lib/training/train";
import { paramValues, smallSplit } from "./support/training";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

const split = smallSplit(400, 3);
const mlp = (): MLP => new MLP({ vocabSize: 27, nEmbd: 4, nHidden: 16, seed: 5, init: INIT_PRESETS.kaiming });

test("planEngine: fused for the lectures' MLP, tfjs for a model without a fused form, refusals name the reason", () => {
  const m = mlp();
  // a learner's model: a tfjs forward pass and nothing else
  const trigram = new NeuralTrigram({ vocabSize: 27, blockSize: 8, nEmbd: 2, nHidden: 4, seed: 1 });
  const t: SequenceModel = {
    ...{ examples: "sequence", blockSize: 8, vocabSize: 27 },
    parameters: () => trigram.parameters(),
    forward: (X, training) => trigram.forward(X, training),
    dispose: () => trigram.dispose(),
  };
  expect(planEngine(m, "auto", 32).name).toBe("fused");
  expect(planEngine(m, "tfjs", 32)).toEqual({ name: "tfjs", reason: "engine tfjs was asked for" });
  expect(planEngine(t, "auto", 32)).toEqual({ name: "tfjs", reason: "the model has no fused form" });
  expect(() => planEngine(t, "fused", 32)).toThrow(/^cannot train fused: the model has no fused form$/);
  expect(() => planEngine(t, "fused", 32, false)).toThrow(/^cannot evaluate fused: /);
  expect(() => planEngine(m, "gpu" as "auto", 32)).toThrow(/engine must be "auto", "fused" or "tfjs", got gpu/);
  m.dispose();
  t.dispose();
});

describe.each<[string, () => Optimizer]>([
  ["adamw", () => new AdamW({ betas: [0.9, 0.99] })],
  ["sgd with weight decay", () => new SGD({ weightDecay: 0.1 })],
])("%s", (_name, optimizer) => {
  test("the fused and tfjs engines train to the same losses and parameters", async () => {
    const runs = [];
    for (const engine of ["fused", "tfjs"] as const) {
      const m = mlp();
      const r = await train(m, split.train, { steps: 60, lr: 0.01, optimizer: optimizer(), engine, progress: false });
      runs.push({ engine: r.engine, losses: r.losses, params: paramValues(m) });
      m.dispose();
    }
    expect(runs.map((r) => r.engine)).toEqual(["fused", "tfjs"]);
    const [f, t] = runs as [(typeof runs)[0], (typeof runs)[0]];
    f.losses.forEach((l, i) => expect(Math.abs(l - (t.losses[i] as number))).toBeLessThan(1e-4));
    f.params.forEach((p, i) => {
      const q = t.params[i] as Float32Array;
      let worst = 0;
      p.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - (q[k] as number)))));
      expect(worst).toBeLessThan(1e-4);
    });
    // the optimizer moved the parameters away from plain SGD's path
    const plain = mlp();
    const r = await train(plain, split.train, { steps: 60, lr: 0.01, progress: false });
    expect(Math.abs((r.losses[59] as number) - (f.losses[59] as number))).toBeGreaterThan(1e-4);
    plain.dispose();
  });
});

test("an engine's evaluation and evaluateLoss agree across engines; tensors stay flat over steps", () => {
  const m = mlp();
  const fused = evaluateLoss(m, split.val, "fused");
  expect(Math.abs(fused - evaluateLoss(m, split.val, "tfjs"))).toBeLessThan(1e-5);
  const before = tf.memory().numTensors;
  for (const engine of ["fused", "tfjs"] as const) {
    const e = createEngine(m, { engine, batchSize: 32, targetWidth: 1, optimizer: new AdamW() });
    const g = new Generator(1);
    for (let i = 0; i < 20; i++) {
      sampleBatchInto(split.train, g, e.batch);
      const loss = e.step(0.001);
      if (typeof loss !== "number") loss.dispose();
    }
    expect(e.name).toBe(engine);
    expect(Number.isFinite(e.evaluate(split.val))).toBe(true);
    e.dispose();
  }
  expect(tf.memory().numTensors).toBe(before);
  m.dispose();
});

test("train refuses an evaluation chunk size that is not a positive integer, on either engine", async () => {
  const m = mlp();
  for (const engine of ["fused", "tfjs"] as const) {
    await expect(train(m, split.train, { steps: 1, evalChunkSize: 0, engine, progress: false })).rejects.toThrow(
      /^evalChunkSize must be a positive integer, got 0$/,
    );
  }
  m.dispose();
});
