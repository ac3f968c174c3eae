/**
 * The fused engine (lib/engines/graph*.ts) against PyTorch and against
 * the tfjs engine: every makemore model with a fused graph gives PyTorch's
 * logits, loss and gradients on the fixture batch (written by
 * scripts/fixtures/makemore_models.py), trains like tfjs with AdamW, and
 * evaluates a split (with a last short chunk) like tfjs.
 */
import { buildSequences } from "../lib/data/sequences";
import { Vocab } from "../lib/data/vocab";
import { createEngine, evaluateLoss, planEngine } from "../lib/engines/factory";
import { GraphNet } from "../lib/engines/graph-net";
import { resolveConfig } from "../lib/experiments/hyperparams";
import { buildModel } from "../lib/experiments/run-model";
import { isOpsModel, type Model } from "../lib/models/model";
import { AdamW } from "../lib/optim/optimizers";
import { train } from "../lib/training/train";
import { Generator } from "../lib/random/generator";
import { sampleBatchInto } from "../lib/data/examples";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { floats, ints, loadRecorded, RECORDED, relativeDiff, type Recorded } from "./support/makemore-fixture";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

/** The kinds that run as fused graphs (each helper of a new kind adds it here). */
const FUSED_KINDS = ["transformer", "gru", "rnn", "bow", "makemore-mlp", "makemore-bigram"];
const fusedKinds = RECORDED.filter((r) => FUSED_KINDS.includes(r.kind));

test("every kind listed as fused has a fused graph, and the others do not", () => {
  for (const r of RECORDED) {
    const m = buildModel(resolveConfig({ model: r.kind, ...r.shape }), r.vocabSize);
    expect([r.kind, isOpsModel(m)]).toEqual([r.kind, FUSED_KINDS.includes(r.kind)]);
    m.dispose();
  }
});

test.each(fusedKinds.map((r) => [r.kind, r] as const))(
  "%s: fused logits, loss and gradients match PyTorch",
  (kind, r) => {
    const model = loadRecorded(r);
    if (!isOpsModel(model)) throw new Error("not a graph model");
    expect(r.T).toBe(model.blockSize);
    const net = new GraphNet(model, r.B);
    net.load();
    const { X, Y } = net.batchViews();
    X.set(ints(r.X));
    Y.set(ints(r.Y));
    const loss = net.forwardBackward();
    expect(relativeDiff(net.logitsView(), floats(r.logits))).toBeLessThan(1e-5);
    expect(Math.abs(loss - r.loss)).toBeLessThan(1e-5);
    net.gradViews().forEach((g, i) => {
      const rel = relativeDiff(g, floats(r.grads[i] as string));
      expect([kind, r.params[i]?.name, rel < 1e-4 ? "ok" : rel]).toEqual([kind, r.params[i]?.name, "ok"]);
    });
    model.dispose();
  },
);

test("profile times each kind of op, forward and backward, and the loss", () => {
  const r = RECORDED.find((m) => m.kind === "transformer") as Recorded;
  const model = loadRecorded(r);
  if (!isOpsModel(model)) throw new Error("not a graph model");
  const net = new GraphNet(model, r.B);
  net.load();
  net.batchViews().X.set(ints(r.X));
  net.batchViews().Y.set(ints(r.Y));
  let ticks = 0;
  const stages = net.profile(3, () => ticks++); // a clock that counts its reads: every lap takes 1
  const names = stages.map((s) => s.stage).sort();
  for (const op of ["attention", "layer norm", "gelu", "linear", "add", "embedding", "positions"]) {
    expect(names).toEqual(expect.arrayContaining([`forward ${op}`, `backward ${op}`]));
  }
  expect(names).toContain("loss");
  // laps per step: one per op forward and backward, and the loss
  const laps = stages.reduce((sum, s) => sum + s.us / 1000, 0);
  expect(laps).toBe(2 * net.ops.length + 1);
  model.dispose();
});

const words = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn", "x"];
const vocab = Vocab.fromWords(words);

describe.each(fusedKinds.map((r) => [r.kind, r] as const))("%s on the fused engine", (kind, r) => {
  const data = buildSequences(words, vocab);
  const make = (): Model =>
    buildModel(resolveConfig({ model: kind, blockSize: data.blockSize, ...smallShape(r) }), vocab.size);

  test("trains like the tfjs engine with AdamW: same losses over 20 steps, tensors flat", () => {
    const losses = (["fused", "tfjs"] as const).map((engine) => {
      const model = make();
      const e = createEngine(model, { engine, batchSize: 4, targetWidth: data.blockSize, optimizer: new AdamW() });
      expect(e.name).toBe(engine);
      const g = new Generator(5);
      const out: number[] = [];
      const before = tf.memory().numTensors;
      for (let s = 0; s < 20; s++) {
        sampleBatchInto(data, g, e.batch);
        const l = e.step(1e-2);
        out.push(typeof l === "number" ? l : (l.dataSync()[0] as number));
        if (typeof l !== "number") l.dispose();
      }
      e.dispose(); // writes the state back into the variables
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
      return out;
    });
    const [fused, tfjs] = losses as [number[], number[]];
    expect(fused[19]).toBeLessThan(fused[0] as number);
    fused.forEach((l, i) => expect(Math.abs(l - (tfjs[i] as number))).toBeLessThan(1e-4));
  });

  test("trains bit for bit alike on the wasm and cpu backends (nothing goes through tfjs ops)", async () => {
    const run = async (backend: "wasm" | "cpu"): Promise<Buffer> => {
      await initBackend(backend, { quiet: true });
      const model = make();
      const e = createEngine(model, {
        engine: "fused",
        batchSize: 4,
        targetWidth: data.blockSize,
        optimizer: new AdamW(),
      });
      const g = new Generator(9);
      const losses: number[] = [];
      for (let s = 0; s < 5; s++) {
        sampleBatchInto(data, g, e.batch);
        losses.push(e.step(1e-2) as number);
      }
      e.dispose();
      const bytes = Buffer.concat([
        Buffer.from(Float64Array.from(losses).buffer),
        ...model.parameters().map((v) => Buffer.from((v.dataSync() as Float32Array).slice().buffer)),
      ]);
      model.dispose();
      return bytes;
    };
    try {
      const [wasm, cpu] = [await run("wasm"), await run("cpu")];
      expect(wasm.equals(cpu)).toBe(true);
    } finally {
      await initBackend("wasm", { quiet: true });
    }
  });

  test("evaluates a split like tfjs, a last short chunk included", () => {
    const model = make();
    expect(planEngine(model, "auto", 32).name).toBe("fused");
    const fused = evaluateLoss(model, data, "fused", 3); // 11 lines: chunks of 3, 3, 3 and 2
    expect(Math.abs(fused - evaluateLoss(model, data, "tfjs"))).toBeLessThan(1e-5);
    expect(Math.abs(fused - evaluateLoss(model, data, "fused"))).toBeLessThan(1e-5);
    model.dispose();
  });
});

/**
 * A small shape of the kind, for quick tests. Its block size stays the lines'
 * (as for every sequence model the CLI builds: makemore-mlp's window is the
 * whole line, and the fused graph's positions are the model's block size).
 */
function smallShape(r: Recorded): Partial<Recorded["shape"]> {
  return { nEmbd: 8, nEmbd2: r.kind === "makemore-mlp" ? 6 : 12, nLayers: 2, nHead: 2 };
}

describe("the fused graph over a long run", () => {
  const data = buildSequences(words, vocab);
  const make = (): Model =>
    buildModel(resolveConfig({ model: "bow", blockSize: data.blockSize, nEmbd: 8, nEmbd2: 8 }), vocab.size);

  test("10,000 steps with evaluations and gradient hooks leave the tensor count where 10 steps left it", async () => {
    const model = make();
    const options = {
      batchSize: 4,
      optimizer: "adamw",
      lr: 1e-3,
      engine: "fused",
      evalEvery: 2500,
      evalSplits: { all: data },
      progress: false,
    } as const;
    await train(model, data, { ...options, steps: 10, seed: 1 });
    const after10 = tf.memory().numTensors;
    let hooks = 0;
    const run = await train(model, data, {
      ...options,
      steps: 10_000,
      seed: 2,
      gradsEvery: 5000,
      onGrads: () => void hooks++,
    });
    expect(run.engine).toBe("fused");
    expect(run.evals.length).toBeGreaterThanOrEqual(4);
    expect(hooks).toBe(2);
    expect(tf.memory().numTensors).toBe(after10);
    expect(run.losses.at(-1)).toBeLessThan(run.losses[0] as number);
    model.dispose();
  });

  test("the same seed gives the same losses, bit for bit, on the wasm and cpu backends", async () => {
    const losses: number[][] = [];
    for (const backend of ["wasm", "cpu"] as const) {
      await initBackend(backend, { quiet: true });
      const model = make();
      const run = await train(model, data, {
        steps: 200,
        batchSize: 4,
        optimizer: "adamw",
        lr: 1e-3,
        seed: 3,
        engine: "fused",
        progress: false,
      });
      losses.push(run.losses);
      model.dispose();
    }
    await initBackend("wasm", { quiet: true });
    expect(losses[1]).toEqual(losses[0]);
  });
});

describe("one AdamW across fused engines", () => {
  const data = buildSequences(words, vocab);
  const make = (nEmbd = 8): Model =>
    buildModel(resolveConfig({ model: "bow", blockSize: data.blockSize, nEmbd, nEmbd2: 8 }), vocab.size);
  const steps = (e: ReturnType<typeof createEngine>, g: Generator, n: number): number[] =>
    Array.from({ length: n }, () => {
      sampleBatchInto(data, g, e.batch);
      return e.step(1e-2) as number;
    });

  test("a second engine goes on from the moments the first left, as one engine would", () => {
    const [one, two] = [make(), make()];
    const single = createEngine(one, {
      engine: "fused",
      batchSize: 4,
      targetWidth: data.blockSize,
      optimizer: new AdamW(),
    });
    const straight = steps(single, new Generator(9), 10);
    const shared = new AdamW();
    const g = new Generator(9);
    const first = createEngine(two, { engine: "fused", batchSize: 4, targetWidth: data.blockSize, optimizer: shared });
    const a = steps(first, g, 5);
    first.dispose();
    const second = createEngine(two, { engine: "fused", batchSize: 4, targetWidth: data.blockSize, optimizer: shared });
    expect([...a, ...steps(second, g, 5)]).toEqual(straight);
    [one, two].forEach((m) => m.dispose());
  });

  test("after reset() it starts afresh on another model's layout", () => {
    const shared = new AdamW();
    const small = make(8);
    const e1 = createEngine(small, { engine: "fused", batchSize: 4, targetWidth: data.blockSize, optimizer: shared });
    steps(e1, new Generator(1), 3);
    shared.reset();
    const [big, fresh] = [make(12), make(12)];
    const e2 = createEngine(big, { engine: "fused", batchSize: 4, targetWidth: data.blockSize, optimizer: shared });
    const e3 = createEngine(fresh, {
      engine: "fused",
      batchSize: 4,
      targetWidth: data.blockSize,
      optimizer: new AdamW(),
    });
    expect(steps(e2, new Generator(2), 4)).toEqual(steps(e3, new Generator(2), 4));
    expect(shared.steps).toBe(4);
    [small, big, fresh].forEach((m) => m.dispose());
  });
});

test("a gradient hook on the last step still leaves the updated parameters for the engine to write back", () => {
  const data = buildSequences(words, vocab);
  const [hooked, plain] = [0, 1].map(() =>
    buildModel(resolveConfig({ model: "bow", blockSize: data.blockSize, nEmbd: 8, nEmbd2: 8 }), vocab.size),
  ) as [Model, Model];
  for (const [model, hook] of [
    [hooked, true],
    [plain, false],
  ] as const) {
    const e = createEngine(model, {
      engine: "fused",
      batchSize: 4,
      targetWidth: data.blockSize,
      optimizer: new AdamW(),
    });
    const g = new Generator(4);
    for (let s = 0; s < 3; s++) {
      sampleBatchInto(data, g, e.batch);
      e.step(1e-2, hook ? () => undefined : undefined);
    }
    e.dispose();
  }
  hooked.parameters().forEach((p, i) => expect(p.dataSync()).toEqual(plain.parameters()[i]!.dataSync()));
  [hooked, plain].forEach((m) => m.dispose());
});
