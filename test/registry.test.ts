/**
 * The core every model fits: the model registry (formula = built model for
 * every kind), sequence examples with ignored padding, and a per-position
 * model added as one file plus one registry line (lib/models/trigram.ts)
 * that trains through train(), the CLI, sample and a grid with no other change.
 */
import * as fs from "fs";
import * as path from "path";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { Vocab } from "../lib/data/vocab";
import { buildSequences, IGNORE_INDEX, longestLine } from "../lib/data/sequences";
import { sampleBatch, subsetExamples } from "../lib/data/examples";
import { countParameters, modelLoss } from "../lib/models/model";
import { findModel, MODELS, MODEL_KINDS } from "../lib/models/registry";
import { sequenceCrossEntropy } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import { buildModel } from "../lib/experiments/run-model";
import { parameterCount, resolveConfig, describeModel } from "../lib/experiments/hyperparams";
import { experimentSplit, groupSamples, prepareExperimentData, SPLIT_SEED } from "../lib/experiments/run-data";
import { splitWords } from "../lib/data/contexts";
import { sampleFromModel, splitLoss } from "../lib/training/evaluate";
import { train } from "../lib/training/train";
import { readRunLog } from "../lib/index";
import { readResults } from "../lib/experiments/grid";
import { runCli, tempDir, writeNames } from "./support/cli";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

const vocab = Vocab.fromWords(["emma", "olivia", "ava"]);

describe("the model registry", () => {
  test("every kind is registered once, with a description and the examples it reads", () => {
    expect(MODEL_KINDS).toEqual([
      "bigram",
      "mlp",
      "mlp-bn",
      "deep",
      "trigram",
      "transformer",
      "gru",
      "rnn",
      "bow",
      "makemore-mlp",
      "makemore-bigram",
    ]);
    expect(new Set(MODEL_KINDS).size).toBe(MODELS.length);
    for (const m of MODELS) {
      expect(m.description.length).toBeGreaterThan(10);
      expect(["context", "sequence"]).toContain(m.examples);
    }
    expect(findModel("gpt")).toBeNull();
    expect(() => resolveConfig({ model: "gpt" })).toThrow(
      /must be one of bigram, mlp, mlp-bn, deep, trigram, transformer, gru/,
    );
  });

  test.each(MODEL_KINDS)("%s: the parameter formula equals the built model, for several shapes", (kind) => {
    const shapes = [
      { nEmbd: 2, nHidden: 8, nLayers: 1, blockSize: 2, nHead: 1, nEmbd2: 3 },
      { nEmbd: 5, nHidden: 16, nLayers: 3, blockSize: 4, nHead: 5, nEmbd2: 7 },
      {},
    ];
    for (const shape of shapes) {
      const config = resolveConfig({
        model: kind,
        ...(kind === "bigram" ? { ...shape, blockSize: undefined } : shape),
      });
      const model = buildModel(config, 11);
      expect([kind, countParameters(model)]).toEqual([kind, parameterCount(config, 11)]);
      model.dispose();
    }
  });

  test("descriptions name only the keys a model uses", () => {
    expect(describeModel(resolveConfig({ model: "mlp" }))).toBe("mlp block 3, embd 10, hidden 200");
    expect(describeModel(resolveConfig({ model: "bigram" }))).toBe("bigram");
    expect(describeModel(resolveConfig({ model: "trigram" }))).toBe("trigram embd 10, hidden 100");
    expect(describeModel(resolveConfig({ model: "deep", nLayers: 2 }))).toBe(
      "deep block 3, embd 10, hidden 100, layers 2",
    );
  });

  test("makemore.py's models on names (vocab 27, block 16) have makemore.py's parameter counts", () => {
    const counts = Object.fromEntries(
      ["transformer", "makemore-mlp", "gru", "bow", "rnn", "makemore-bigram"].map((kind) => {
        const config = resolveConfig({ model: kind, blockSize: 16 });
        const model = buildModel(config, 27);
        const n = countParameters(model);
        model.dispose();
        return [kind, [n, parameterCount(config, 27)]];
      }),
    );
    expect(counts).toEqual({
      transformer: [204544, 204544],
      "makemore-mlp": [69147, 69147],
      gru: [28315, 28315],
      bow: [12827, 12827],
      rnn: [11803, 11803],
      "makemore-bigram": [729, 729],
    });
  });

  test("makemore.py's models default to its shapes and to AdamW; the transformer refuses nEmbd % nHead != 0", () => {
    expect(resolveConfig({ model: "transformer" })).toMatchObject({
      nLayers: 4,
      nHead: 4,
      nEmbd: 64,
      optimizer: "adamw",
      lr: 5e-4,
      weightDecay: 0.01,
    });
    for (const kind of ["gru", "rnn", "bow", "makemore-mlp"]) {
      expect(resolveConfig({ model: kind })).toMatchObject({ nEmbd: 64, nEmbd2: 64, optimizer: "adamw", lr: 5e-4 });
    }
    expect(() => resolveConfig({ model: "transformer", nEmbd: 10, nHead: 4 })).toThrow(
      /^the transformer model: nEmbd 10 must be divisible by nHead 4/,
    );
    expect(() => resolveConfig({ model: "gru", nEmbd: 10, nHead: 4 })).not.toThrow();
    expect(describeModel(resolveConfig({ model: "transformer", blockSize: 16 }))).toBe(
      "transformer block 16, embd 64, layers 4, heads 4",
    );
    expect(describeModel(resolveConfig({ model: "gru" }))).toBe("gru embd 64, embd2 64");
  });

  test("AdamW runs default to makemore.py's learning rate and weight decay; SGD to the lectures'", () => {
    expect(resolveConfig({ optimizer: "adamw" })).toMatchObject({ lr: 5e-4, weightDecay: 0.01 });
    expect(resolveConfig({})).toMatchObject({ optimizer: "sgd", lr: 0.1, weightDecay: 0 });
    expect(resolveConfig({ optimizer: "adamw", lr: 0.01 })).toMatchObject({ lr: 0.01, weightDecay: 0.01 });
    // the bigram's SGD rate of 10 is not carried into an AdamW run
    expect(resolveConfig({ model: "bigram", optimizer: "adamw" })).toMatchObject({ lr: 5e-4, weightDecay: 0.01 });
    expect(resolveConfig({ model: "bigram" })).toMatchObject({ optimizer: "sgd", lr: 10 });
    expect(() => resolveConfig({ optimizer: "adam" })).toThrow(/optimizer must be one of sgd, adamw, got "adam"/);
    expect(() => resolveConfig({ weightDecay: -1 })).toThrow(/weightDecay must be a non-negative number/);
  });
});

describe("sequence examples", () => {
  test("each line is [start, chars..., pad] with targets [chars..., end, -1...]", () => {
    const s = buildSequences(["emma", "ava"], vocab);
    expect(s).toMatchObject({ kind: "sequence", n: 2, blockSize: 5 });
    const e = vocab.encode("emma");
    const a = vocab.encode("ava");
    expect([...s.X]).toEqual([0, ...e, 0, ...a, 0]);
    expect([...s.Y]).toEqual([...e, 0, ...a, 0, IGNORE_INDEX]);
    expect(longestLine(["emma", "olivia"])).toBe(6);
    expect(() => buildSequences(["olivia"], vocab, 5)).toThrow(/line 1 has 6 characters; block size 5 holds at most 4/);
  });

  test("batches and subsets carry whole target rows", () => {
    const s = buildSequences(["emma", "ava", "olivia"], vocab);
    const b = sampleBatch(s, 4, new Generator(3));
    expect(b.X).toHaveLength(4 * s.blockSize);
    expect(b.Y).toHaveLength(4 * s.blockSize);
    for (let r = 0; r < 4; r++) {
      // the first input of every row is the start token, and a row's targets are its inputs shifted by one
      expect(b.X[r * s.blockSize]).toBe(0);
      expect(b.Y[r * s.blockSize]).toBe(b.X[r * s.blockSize + 1] || 0);
    }
    const sub = subsetExamples(s, 2, 1);
    expect(sub).toMatchObject({ kind: "sequence", n: 2, blockSize: s.blockSize });
    expect(sub.Y).toHaveLength(2 * s.blockSize);
  });

  test("the loss skips padded targets: mean of -log p over the others only", () => {
    const logits = tf.tensor3d([
      [
        [1, 2, 0],
        [0.5, 0, 0],
        [3, 3, 3],
      ],
    ]) as tfjs.Tensor3D;
    const Y = tf.tensor2d([[1, 0, -1]], [1, 3], "int32") as tfjs.Tensor2D;
    const lse = (r: number[]): number => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const expected = (lse([1, 2, 0]) - 2 + (lse([0.5, 0, 0]) - 0.5)) / 2;
    expect(sequenceCrossEntropy(logits, Y).dataSync()[0]).toBeCloseTo(expected, 6);
    tf.dispose([logits, Y]);
  });
});

describe("a per-position model from one file and one registry line", () => {
  const words = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"];
  const many = Array.from({ length: 20 }, () => words).flat();

  test("trains through train(): the loss falls, tensors stay flat, evaluation and sampling work", async () => {
    const config = resolveConfig({ model: "trigram", nEmbd: 4, nHidden: 16, blockSize: longestLine(many) + 1 });
    const data = prepareExperimentData(many, config.blockSize, Vocab.fromWords(many), "sequence");
    const model = buildModel(config, data.vocab.size);
    const before = splitLoss(model, data.evalSplits.val);
    const tensors = tf.memory().numTensors;
    const r = await train(model, data.train, { steps: 300, lr: 0.02, optimizer: "adamw", progress: false });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(r.engine).toBe("fused"); // its forward pass over ops runs on the fused engine too
    expect(splitLoss(model, data.evalSplits.val)).toBeLessThan(before - 0.5);
    const X = tf.tensor2d([[0, 1, 2]], [1, 3], "int32") as tfjs.Tensor2D;
    expect(model.forward(X, false).shape).toEqual([1, 3, data.vocab.size]);
    const loss = modelLoss(model, X, tf.tensor2d([[1, 2, -1]], [1, 3], "int32"), false);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    const samples = sampleFromModel(model, data.vocab, 5);
    expect(samples.every((s) => [...s].length < config.blockSize)).toBe(true);
    expect(sampleFromModel(model, data.vocab, 5)).toEqual(samples);
    tf.dispose([X, loss]);
    model.dispose();
  });

  test("trains through the CLI, samples, and runs a two-point grid", async () => {
    const root = tempDir("mm-registry-");
    const input = writeNames(root, 200);
    const out = path.join(root, "run");
    const t = await runCli([
      "train",
      "-i",
      input,
      "-o",
      out,
      "--model",
      "trigram",
      "--max-steps",
      "40",
      "--eval-every",
      "20",
      "--n-embd",
      "3",
      "--optimizer",
      "adamw",
      "--lr",
      "0.01",
    ]);
    expect(t.stderr).not.toMatch(/error/);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/started: trigram embd 3, hidden 100, [\d,]+ parameters/);
    expect(readRunLog(path.join(out, "log.csv")).map((r) => r.step)).toEqual([0, 20, 40]);
    const config = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as {
      config: { blockSize: number; optimizer: string };
    };
    expect(config.config).toMatchObject({ optimizer: "adamw" });
    const s = await runCli(["sample", "-o", out, "-n", "3"]);
    expect(s.code).toBe(0);
    expect(s.stdout.trim().split("\n")).toHaveLength(3);
    // makemore.py's three groups: every sample under exactly one heading
    const g3 = await runCli(["sample", "-o", out, "-n", "6", "--groups"]);
    expect(g3.code).toBe(0);
    const heads = [...g3.stdout.matchAll(/^(\d+) (in the training split|in the val or test split|new):$/gm)];
    expect(heads.map((h) => h[2])).toEqual(["in the training split", "in the val or test split", "new"]);
    expect(heads.reduce((n, h) => n + Number(h[1]), 0)).toBe(6);
    const grid = path.join(root, "grid.json");
    fs.writeFileSync(grid, '{ "model": "trigram", "nHidden": [8, 16], "maxSteps": 20, "evalEvery": 10 }');
    const g = await runCli(["grid", "-i", input, "-o", path.join(root, "grid"), "--grid", grid, "--workers", "2"]);
    expect(g.code).toBe(0);
    const rows = readResults(path.join(root, "grid", "results.csv"));
    expect(rows.map((r) => [r.model, r.nHidden, r.status]).sort()).toEqual([
      ["trigram", "16", "finished"],
      ["trigram", "8", "finished"],
    ]);
  });
});

test("groupSamples sorts samples by the split they occur in", () => {
  const words = Array.from({ length: 50 }, (_, i) => `w${i}`);
  const split = splitWords(words, SPLIT_SEED);
  const g = groupSamples(
    [split.train[0] as string, split.test[0] as string, "zzz", split.val[0] as string],
    words,
    "context",
  );
  expect(g).toEqual({ train: [split.train[0]], heldOut: [split.test[0], split.val[0]], fresh: ["zzz"] });
});

test("lines split as makemore.py splits them, line for line: a test split of min(1,000, 10%), the rest to train on", () => {
  const words = Array.from({ length: 32033 }, (_, i) => `w${i}`);
  const s = experimentSplit(words, "sequence");
  expect([s.train.length, s.test.length]).toEqual([31033, 1000]);
  expect(s.val).toBe(s.test); // evaluations hold out the test split
  expect(new Set([...s.train, ...s.test]).size).toBe(32033);
  // makemore.py's lines, as torch.manual_seed(3407); torch.randperm(n) orders them (figures from PyTorch 1.13)
  expect(s.test.slice(-3)).toEqual(["w30618", "w16636", "w29400"]);
  const small = experimentSplit(words.slice(0, 50), "sequence");
  expect([small.train.length, small.test.length]).toEqual([45, 5]);
  expect(small.test).toEqual(["w37", "w39", "w23", "w33", "w0"]);
  expect(small.train.slice(0, 3)).toEqual(["w9", "w17", "w21"]);
  const g = groupSamples([small.train[0] as string, small.test[0] as string, "zzz"], words.slice(0, 50), "sequence");
  expect(g).toEqual({ train: [small.train[0]], heldOut: [small.test[0]], fresh: ["zzz"] });
  expect(() => experimentSplit(["a", "b"], "sequence")).toThrow(/need at least 3 examples to split, got 2/);
});
