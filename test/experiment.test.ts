import * as fs from "fs";
import * as path from "path";
import {
  buildModel,
  countParameters,
  loadRun,
  MODEL_KINDS,
  parameterCount,
  readCheckpoint,
  readRunLog,
  resolveConfig,
  runExperiment,
  splitLoss,
  splitWords,
  buildContexts,
  Vocab,
  type ExperimentConfig,
} from "../lib/index";
import {
  ConfigError,
  DEFAULT_EXPERIMENT_CONFIG,
  HYPER_KEYS,
  hyperSpec,
  ParameterLimitError,
} from "../lib/experiments/hyperparams";
import { deepParameterCount } from "../lib/models/deep";
import { resumeConfig } from "../lib/experiments/run-plan";
import { prepareExperimentData, subsetContexts } from "../lib/experiments/run-data";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { syntheticNames, tempDir } from "./support/cli";

const words = syntheticNames(300);
const tiny: Partial<ExperimentConfig> = { nEmbd: 4, nHidden: 16, maxSteps: 60, evalEvery: 20, batchSize: 16 };

beforeAll(async () => {
  await initBackend("cpu");
});

describe("hyperparameters", () => {
  test("defaults, model defaults, and checks of every value", () => {
    expect(resolveConfig({})).toEqual(DEFAULT_EXPERIMENT_CONFIG);
    expect(resolveConfig({ model: "bigram" })).toMatchObject({ blockSize: 1, lr: 10 });
    expect(resolveConfig({ model: "deep" }).nHidden).toBe(100);
    expect(resolveConfig({ nEmbd: "4" as unknown as number }).nEmbd).toBe(4);
    expect(() => resolveConfig({ nEmbd: 0 })).toThrow("nEmbd must be a positive integer, got 0");
    expect(() => resolveConfig({ lr: -1 })).toThrow("lr must be a positive number, got -1");
    expect(() => resolveConfig({ model: "gpt" as "mlp" })).toThrow(/model must be one of bigram, mlp, mlp-bn, deep/);
    expect(() => resolveConfig({ nEmb: 3 } as Record<string, unknown>)).toThrow("unknown hyperparameter 'nEmb'");
    expect(() => resolveConfig({ model: "bigram", blockSize: 3 })).toThrow(/bigram model reads 1 character/);
    expect(() => resolveConfig({ model: "deep", batchSize: 1 })).toThrow(ConfigError);
    expect(hyperSpec("n-embd")?.key).toBe("nEmbd");
    expect(hyperSpec("--max-steps")?.key).toBe("maxSteps");
    expect(hyperSpec("depth")).toBeNull();
    expect(HYPER_KEYS).toContain("targetLoss");
  });

  test("parameter counts without building match the built models (11,897 for lecture 2, 47,024 for lecture 3)", () => {
    expect(parameterCount(resolveConfig({}), 27)).toBe(11897);
    expect(parameterCount(resolveConfig({ model: "deep" }), 27)).toBe(47024);
    expect(parameterCount(resolveConfig({ model: "deep" }), 27)).toBe(deepParameterCount({ vocabSize: 27 }));
    for (const model of MODEL_KINDS) {
      for (const shape of [{}, { blockSize: 4, nEmbd: 3, nHidden: 7, nLayers: 2, nHead: 1, nEmbd2: 5 }]) {
        const config = resolveConfig(model === "bigram" ? { model } : { model, ...shape });
        const built = buildModel(config, 11);
        expect([model, countParameters(built)]).toEqual([model, parameterCount(config, 11)]);
        built.dispose();
      }
    }
  });

  test("a resumed run may change how it trains but not the model", () => {
    const saved = resolveConfig({ nEmbd: 4 });
    expect(resumeConfig(saved, { maxSteps: 99, nEmbd: 4 }).maxSteps).toBe(99);
    expect(() => resumeConfig(saved, { nEmbd: 5 })).toThrow(
      "cannot resume with nEmbd 5: the saved run has 4 (start a new run in another folder)",
    );
  });

  test("evaluation subsets are fixed by seed and keep every example when there are few", () => {
    const vocab = Vocab.fromWords(words);
    const all = buildContexts(words, vocab, 3);
    expect(subsetContexts(all, all.n + 1)).toBe(all);
    const a = subsetContexts(all, 100);
    expect(a.n).toBe(100);
    expect(subsetContexts(all, 100)).toEqual(a);
    expect(prepareExperimentData(words, 2).evalSplits.val.blockSize).toBe(2);
  });

  test("the train split's evaluation set is a sample of its lines fixed by the seed; the val split is whole", () => {
    const vocab = Vocab.fromWords(words);
    const all = prepareExperimentData(words, 3, vocab);
    const sampled = (lines: number | "all", seed: number): ReturnType<typeof prepareExperimentData> =>
      prepareExperimentData(words, 3, vocab, "context", { lines, seed });
    const a = sampled(50, 7);
    // 50 of the 240 training lines, as whole context windows: each line gives its characters + 1 windows
    const trainLines = splitWords(words, 42).train;
    const windows = (lines: readonly string[]): number => lines.reduce((n, w) => n + w.length + 1, 0);
    expect(a.evalSplits.train.n).toBeLessThan(all.evalSplits.train.n);
    const byLength = [...trainLines].sort((x, y) => x.length - y.length);
    expect(a.evalSplits.train.n).toBeGreaterThanOrEqual(windows(byLength.slice(0, 50)));
    expect(a.evalSplits.train.n).toBeLessThanOrEqual(windows(byLength.slice(-50)));
    expect(sampled(50, 7).evalSplits.train).toEqual(a.evalSplits.train);
    expect(sampled(50, 8).evalSplits.train).not.toEqual(a.evalSplits.train);
    expect(sampled("all", 7)).toEqual(all);
    expect(sampled(100_000, 7)).toEqual(all);
    for (const s of [a, sampled(50, 8)]) expect(s.evalSplits.val).toEqual(all.evalSplits.val);
    expect(resolveConfig({}).evalLines).toBe(1000);
    expect(resolveConfig({ evalLines: "all" }).evalLines).toBe("all");
    expect(() => resolveConfig({ evalLines: 0 })).toThrow('evalLines must be a positive integer or "all", got 0');
  });
});

describe("runExperiment", () => {
  test("--eval-lines changes the train loss a run reports, never its val loss or its training", async () => {
    const root = tempDir("mm-exp-lines-");
    const config = { ...tiny, maxSteps: 40 };
    const logOf = async (evalLines: number | "all"): Promise<{ train: number[]; val: number[]; loss: number }> => {
      const dir = path.join(root, String(evalLines));
      const r = await runExperiment({ config: { ...config, evalLines }, words, outDir: dir, samples: 0 });
      const log = readRunLog(path.join(dir, "log.csv"));
      return { train: log.map((l) => l.trainLoss), val: log.map((l) => l.valLoss), loss: r.bestValLoss };
    };
    const all = await logOf("all");
    const few = await logOf(20);
    expect(few.val).toEqual(all.val);
    expect(few.train).not.toEqual(all.train);
    expect(few.train).toHaveLength(3);
  });

  test("trains, logs every evaluation, keeps the best checkpoint and frees every tensor", async () => {
    const dir = path.join(tempDir("mm-exp-"), "run");
    const before = tf.memory().numTensors;
    const evals: number[] = [];
    const r = await runExperiment({
      config: tiny,
      words,
      dataset: "synthetic",
      outDir: dir,
      samples: 5,
      onEval: (row) => evals.push(row.step),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r).toMatchObject({ status: "finished", steps: 60, params: parameterCount(resolveConfig(tiny), 27) });
    expect(evals).toEqual([0, 20, 40, 60]);
    expect(fs.readdirSync(dir).sort()).toEqual(["config.json", "last.ckpt", "log.csv", "model.ckpt", "samples.txt"]);
    const log = readRunLog(path.join(dir, "log.csv"));
    expect(log.map((row) => [row.tag, row.step])).toEqual(evals.map((s) => [r.tag, s]));
    const bestRow = log.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    expect(r.bestValLoss).toBeCloseTo(bestRow.valLoss, 5);
    expect(r.bestStep).toBe(bestRow.step);
    // the checkpoint reproduces its val loss, and the samples came from it
    const run = loadRun(dir);
    expect(run.meta).toMatchObject({ tag: r.tag, step: r.bestStep, dataset: "synthetic" });
    const data = prepareExperimentData(words, run.config.blockSize, run.vocab);
    expect(splitLoss(run.model, data.evalSplits.val)).toBeCloseTo(r.bestValLoss, 4);
    run.model.dispose();
    expect(fs.readFileSync(path.join(dir, "samples.txt"), "utf8").trimEnd().split("\n")).toEqual(r.samples);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"))).toMatchObject({
      dataset: "synthetic",
      vocabSize: 27,
      config: { nEmbd: 4, nHidden: 16 },
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  test("early stop, target loss, and a refusal over the parameter ceiling", async () => {
    const root = tempDir("mm-exp-");
    // lr 3 makes the val loss climb from the start: two evaluations without a better one, then stop
    const early = await runExperiment({
      config: { ...tiny, lr: 3, maxSteps: 400, earlyStop: 2 },
      words,
      outDir: path.join(root, "early"),
      samples: 0,
    });
    expect(early).toMatchObject({ status: "early-stopped", steps: 40, bestStep: 0 });
    expect(readCheckpoint<unknown, { step: number }>(path.join(root, "early", "model.ckpt")).meta.step).toBe(0);
    const target = await runExperiment({
      config: { ...tiny, maxSteps: 400, targetLoss: 3.2 },
      words,
      outDir: path.join(root, "target"),
      samples: 0,
    });
    expect(target.status).toBe("target-reached");
    expect(target.target?.step).toBe(target.steps);
    expect(target.bestValLoss).toBeLessThanOrEqual(3.2);
    await expect(
      runExperiment({ config: tiny, words, outDir: path.join(root, "big"), maxParams: 100 }),
    ).rejects.toThrow(ParameterLimitError);
    expect(fs.existsSync(path.join(root, "big"))).toBe(false);
  });

  test("a NaN loss stops the run as diverged and the best checkpoint stays", async () => {
    const dir = path.join(tempDir("mm-exp-"), "nan");
    // 1e38: at 1e30 the relaxed kernels' fused multiply-adds keep this MLP's loss finite (about 1e31)
    const r = await runExperiment({ config: { ...tiny, lr: 1e38 }, words, outDir: dir, samples: 0 });
    expect(r.status).toBe("diverged");
    expect(r.message).toMatch(/training diverged: the loss at step \d+ is (NaN|Infinity)/);
    expect(readCheckpoint<unknown, { step: number }>(path.join(dir, "model.ckpt")).meta.step).toBe(0);
  });

  test("resume continues from the last state; an occupied folder is refused unless forced", async () => {
    const dir = path.join(tempDir("mm-exp-"), "run");
    const first = await runExperiment({ config: tiny, words, outDir: dir, samples: 0 });
    await expect(runExperiment({ config: tiny, words, outDir: dir })).rejects.toThrow(/already holds a run/);
    const second = await runExperiment({ config: { maxSteps: 100 }, words, outDir: dir, resume: true, samples: 0 });
    expect(second.steps).toBe(100);
    expect(second.config.nHidden).toBe(16);
    const log = readRunLog(path.join(dir, "log.csv"));
    expect(log.filter((row) => row.tag === second.tag).map((row) => row.step)).toEqual([80, 100]);
    expect(log.filter((row) => row.tag === first.tag)).toHaveLength(4);
    const forced = await runExperiment({ config: tiny, words, outDir: dir, force: true, samples: 0 });
    expect(forced.steps).toBe(60);
    expect(readRunLog(path.join(dir, "log.csv"))).toHaveLength(10);
  });
});
