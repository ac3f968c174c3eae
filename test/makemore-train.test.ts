/**
 * makemore.py's models train: the transformer and the GRU through train()
 * with AdamW (the loss falls, no tensor leaks), and every makemore kind
 * through `makemore train` with makemore.py's flags.
 */
import * as fs from "fs";
import * as path from "path";
import { Vocab } from "../lib/data/vocab";
import { longestLine } from "../lib/data/sequences";
import { isOpsModel } from "../lib/models/model";
import { resolveConfig } from "../lib/experiments/hyperparams";
import { prepareExperimentData } from "../lib/experiments/run-data";
import { buildModel } from "../lib/experiments/run-model";
import { readRunLog } from "../lib/index";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { splitLoss } from "../lib/training/evaluate";
import { train } from "../lib/training/train";
import { main } from "../cli/main";
import { runCli, tempDir, writeNames, type CliResult } from "./support/cli";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

const words = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail"];
const many = Array.from({ length: 20 }, () => words).flat();

describe("train() with AdamW", () => {
  test.each([
    ["transformer", { nLayers: 1, nHead: 2, nEmbd: 16 }],
    ["gru", { nEmbd: 8, nEmbd2: 16 }],
  ] as const)("%s: 50 steps lower the loss and leave no tensor behind", async (kind, shape) => {
    const config = resolveConfig({ model: kind, ...shape, blockSize: longestLine(many) + 1 });
    const data = prepareExperimentData(many, config.blockSize, Vocab.fromWords(many), "sequence");
    const model = buildModel(config, data.vocab.size);
    const before = splitLoss(model, data.evalSplits.val);
    const tensors = tf.memory().numTensors;
    const r = await train(model, data.train, {
      steps: 50,
      lr: 1e-2,
      optimizer: "adamw",
      batchSize: 16,
      progress: false,
      syncEvery: 10,
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(r.engine).toBe(isOpsModel(model) ? "fused" : "tfjs"); // sequence models with a fused graph train fused
    expect(splitLoss(model, data.evalSplits.val)).toBeLessThan(before - 0.5);
    model.dispose();
  });
});

/** `makemore ...args` in this process (no start-up cost; the real binary is run once above). */
async function inProcess(args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
  const code = await main(args, { ...io, outIsTTY: false, errIsTTY: false });
  return { code, stdout, stderr };
}

describe("makemore train with makemore.py's models", () => {
  const root = tempDir("mm-makemore-");
  const input = writeNames(root, 100);

  test("--n-layer (makemore.py's spelling) sets nLayers, and --help shows it", async () => {
    const out = path.join(root, "transformer");
    const args = ["--model", "transformer", "--n-layer", "1", "--n-head", "2", "--n-embd", "16"];
    const t = await runCli(["train", "-i", input, "-o", out, ...args, "--max-steps", "30", "--eval-every", "10"]);
    expect(t.stderr).not.toMatch(/error/);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/started: transformer block \d+, embd 16, layers 1, heads 2, [\d,]+ parameters/);
    expect(readRunLog(path.join(out, "log.csv")).map((r) => r.step)).toEqual([0, 10, 20, 30]);
    const saved = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as {
      config: Record<string, unknown>;
    };
    expect(saved.config).toMatchObject({ nLayers: 1, nHead: 2, nEmbd: 16, optimizer: "adamw", lr: 5e-4 });
    const help = await inProcess(["train", "--help"]);
    expect(help.stdout).toMatch(/--n-layer, --n-layers <n>/);
    expect(help.stdout).toMatch(/--n-head <n>/);
    expect(help.stdout).toMatch(/--n-embd2 <n>/);
  }, 60_000);

  test("an nEmbd that nHead does not divide is one clear error line", async () => {
    const out = path.join(root, "bad");
    const t = await inProcess(["train", "-i", input, "-o", out, "--model", "transformer", "--n-embd", "10"]);
    expect(t.code).toBe(2);
    expect(t.stderr.trim()).toBe(
      "makemore: error: the transformer model: nEmbd 10 must be divisible by nHead 4 (each head gets nEmbd / nHead channels)",
    );
  }, 60_000);

  test.each([
    ["gru", ["--n-embd", "4", "--n-embd2", "8"]],
    ["rnn", ["--n-embd", "4", "--n-embd2", "8"]],
    ["bow", ["--n-embd", "4", "--n-embd2", "8"]],
    ["makemore-mlp", ["--n-embd", "4", "--n-embd2", "8"]],
    ["makemore-bigram", []],
  ] as const)(
    "%s trains a few steps and samples",
    async (kind, shape) => {
      const out = path.join(root, kind);
      const t = await inProcess(["train", "-i", input, "-o", out, "--model", kind, ...shape, "--max-steps", "4"]);
      expect(t.stderr).not.toMatch(/error/);
      expect(t.code).toBe(0);
      expect(t.stdout).toMatch(new RegExp(`started: ${kind}`));
      const s = await inProcess(["sample", "-o", out, "-n", "2"]);
      expect(s.code).toBe(0);
      expect(s.stdout.trim().split("\n")).toHaveLength(2);
    },
    60_000,
  );
});
