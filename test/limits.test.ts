/**
 * Memory estimates (lib/experiments/limits.ts) and dataset records
 * (lib/experiments/run-data.ts): the fused kernel memory equals the
 * graph's own layout, the tfjs estimate covers the measured peak, sizes
 * and ceilings parse, and resume's data check tells the same data from other data.
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { splitLines } from "../lib/data/lines";
import { Vocab } from "../lib/data/vocab";
import { graphBytes } from "../lib/engines/graph-net";
import { isOpsModel } from "../lib/models/model";
import { buildModel } from "../lib/experiments/run-model";
import { findModel, MODELS } from "../lib/models/registry";
import { resolveConfig } from "../lib/experiments/hyperparams";
import {
  checkRunMemory,
  dataSize,
  estimateRunMemory,
  KERNEL_WORKER_BYTES,
  formatBytes,
  memoryCeiling,
  MemoryLimitError,
  parseByteSize,
} from "../lib/experiments/limits";
import { checkResumeData, datasetRecord, DataChangedError, fingerprintLines } from "../lib/experiments/data-record";
import { evalSubsetSize, prepareExperimentData } from "../lib/experiments/run-data";
import { sgdStep } from "../lib/engines/tfjs-engine";

jest.setTimeout(60000);

beforeAll(async () => {
  await initBackend("cpu", { quiet: true });
});

/** Every registered kind: each has a fused graph, whose layout the estimate follows. */
const MODEL_KINDS = MODELS.map((m) => m.kind);

test("the fused kernel memory is the graph's own layout, for every kind and batch", () => {
  const size = { lines: 3000, chars: 18000 };
  for (const model of MODEL_KINDS) {
    for (const batchSize of [2, 33, 1000]) {
      const blockSize = model === "bigram" ? 1 : 8;
      const config = resolveConfig({ model, nEmbd: 8, nHidden: 24, nLayers: 3, nHead: 2, batchSize, blockSize });
      const e = estimateRunMemory(config, size, 29, { fusedAvailable: true });
      const net = buildModel(config, 29);
      if (!isOpsModel(net)) throw new Error(`${model} has no fused graph`);
      const kernel = e.parts.find((p) => p.name.startsWith("fused kernel memory"))?.bytes;
      expect([model, batchSize, e.engine, kernel]).toEqual([model, batchSize, "fused", graphBytes(net, batchSize)]);
      net.dispose();
    }
  }
});

test("on 3 threads the estimate counts each thread's scratch in the kernel memory and 2 worker threads", () => {
  const names = { lines: 32033, chars: 196113 };
  const config = resolveConfig({ model: "transformer", blockSize: 16 });
  const one = estimateRunMemory(config, names, 27, { fusedAvailable: true });
  const three = estimateRunMemory(config, names, 27, { fusedAvailable: true, threads: 3 });
  const part = (e: typeof one, name: string): number | undefined => e.parts.find((p) => p.name.startsWith(name))?.bytes;
  const net = buildModel(config, 27);
  if (!isOpsModel(net)) throw new Error("the transformer has no fused graph");
  const kernel3 = graphBytes(net, config.batchSize, true, 3);
  net.dispose();
  expect(kernel3).toBeGreaterThan(part(one, "fused kernel memory") as number); // attention's scratch: a block per thread
  expect(part(three, "fused kernel memory")).toBe(kernel3);
  expect(one.parts.filter((p) => p.name.includes("kernel worker"))).toEqual([]);
  expect(part(three, "2 kernel worker threads")).toBe(2 * KERNEL_WORKER_BYTES);
  expect(three.total - one.total).toBeGreaterThan(2 * KERNEL_WORKER_BYTES);
});

test("a sequence model's fused estimate is its graph's layout; the tfjs one is sized from the eager forward pass", () => {
  const names = { lines: 32033, chars: 196113 };
  const bow = resolveConfig({ model: "bow", blockSize: 16 });
  const e = estimateRunMemory(bow, names, 27, { fusedAvailable: true });
  expect(e.engine).toBe("fused");
  const model = buildModel(bow, 27);
  if (!isOpsModel(model)) throw new Error("bow has no fused graph");
  const kernel = e.parts.find((p) => p.name.startsWith("fused kernel memory"));
  expect(kernel?.bytes).toBe(graphBytes(model, 32, true));
  expect(e.parts.find((p) => p.name === "optimizer state")?.bytes).toBe(2 * 4 * 12827); // AdamW's two moments
  model.dispose();
  // makemore.py's models on names fit in a few hundred MB; once they were refused at 5.9 GB. On tfjs the
  // transformer takes about 2 GB: its evaluation chunk (1,024 lines) keeps 1.4 GB of forward activations
  for (const kind of ["transformer", "gru", "rnn", "bow", "makemore-mlp", "makemore-bigram"]) {
    const config = resolveConfig({ model: kind, blockSize: 16 });
    for (const fusedAvailable of [true, false]) {
      const total = estimateRunMemory(config, names, 27, { fusedAvailable }).total;
      const bound = (kind === "transformer" && !fusedAvailable ? 2.5 : 1.5) * 2 ** 30;
      expect([kind, fusedAvailable, total < bound]).toEqual([kind, fusedAvailable, true]);
    }
  }
});

test("the tfjs estimate covers the measured peak of a training step, for every kind", async () => {
  await initBackend("wasm", { quiet: true }); // the cpu backend takes a minute for these steps
  for (const model of MODEL_KINDS) {
    const sequence = findModel(model)?.examples === "sequence";
    const B = sequence ? 32 : 512; // lines of 16, or context windows
    const config = resolveConfig({ model, batchSize: B, ...(sequence ? { blockSize: 16 } : {}) });
    const net = buildModel(config, 27);
    const X = tf.zeros([B, config.blockSize], "int32") as tfjs.Tensor2D;
    const Y = tf.zeros(sequence ? [B, config.blockSize] : [B], "int32");
    const lr = tf.scalar(0.1);
    const before = tf.memory().numBytes;
    const profile = await tf.profile(() => sgdStep(net, net.parameters(), X, Y, lr).dispose());
    const e = estimateRunMemory(config, { lines: 100, chars: 600 }, 27, { fusedAvailable: false });
    expect(e.engine).toBe("tfjs");
    const step = e.parts.filter((p) => p.name.startsWith("activations") || p.name === "gradients");
    const estimate = step.reduce((a, p) => a + p.bytes, 0);
    expect([model, profile.peakBytes - before <= estimate]).toEqual([model, true]);
    tf.dispose([X, Y, lr]);
    net.dispose();
  }
  await initBackend("cpu", { quiet: true });
});

test("an impossible batch, context or model is refused with what it needs and the ceiling", () => {
  const size = dataSize(["emma", "olivia", "ava"]);
  const ceiling = { bytes: 8 * 2 ** 30, source: "half of this machine's 16.0 GB" };
  const huge = estimateRunMemory(resolveConfig({ batchSize: 100_000_000 }), size, 27, { fusedAvailable: true });
  expect(huge.engine).toBe("tfjs"); // over the fused engine's 3.5 GiB
  expect(() => checkRunMemory(huge, ceiling, "wasm")).toThrow(
    /^the run needs about \d+ GB of memory \(activations of a batch of 100,000,000 \d+ GB, minibatch of 100,000,000 3\.0 GB\), more than the ceiling of 8\.0 GB \(half of this machine's 16\.0 GB; --max-memory or MAKEMORE_MAX_MEMORY sets it\)$/,
  );
  // fits the ceiling, but not the 4 GiB of the wasm backend
  const wide = estimateRunMemory(resolveConfig({ batchSize: 1_500_000 }), size, 27, { fusedAvailable: true });
  const big = { bytes: 2 ** 40, source: "--max-memory 1.0 TB" };
  expect(() => checkRunMemory(wide, big, "wasm")).toThrow(
    /of TensorFlow.js memory .* the 4\.0 GB the wasm backend can address/,
  );
  expect(() => checkRunMemory(wide, big, "cpu")).not.toThrow();
  const normal = estimateRunMemory(resolveConfig({}), size, 27, { fusedAvailable: true });
  expect(normal.engine).toBe("fused");
  expect(normal.total).toBeLessThan(300 * 2 ** 20);
  expect(() => checkRunMemory(normal, ceiling, "wasm")).not.toThrow();
  expect(() => checkRunMemory(normal, { bytes: 2 ** 20, source: "x" }, "wasm", "run 3fa2c1")).toThrow(MemoryLimitError);
});

test("sizes, ceilings and byte counts", () => {
  expect(parseByteSize("512m")).toBe(512 * 2 ** 20);
  expect(parseByteSize("8G")).toBe(8 * 2 ** 30);
  expect(parseByteSize("1.5GiB")).toBe(1.5 * 2 ** 30);
  expect(parseByteSize("2147483648")).toBe(2 ** 31);
  for (const bad of ["", "lots", "-1g", "12", "1e9"])
    expect(() => parseByteSize(bad)).toThrow(/must be a size of at least 1 MB/);
  expect(memoryCeiling(2 ** 30, {})).toEqual({ bytes: 2 ** 30, source: "--max-memory 1.0 GB" });
  expect(memoryCeiling(undefined, { MAKEMORE_MAX_MEMORY: "3g" })).toEqual({
    bytes: 3 * 2 ** 30,
    source: "MAKEMORE_MAX_MEMORY=3g",
  });
  expect(memoryCeiling(undefined, {}).source).toMatch(/^half of this machine's \d+\.?\d* GB$/);
  expect(() => memoryCeiling(undefined, { MAKEMORE_MAX_MEMORY: "big" })).toThrow(/^MAKEMORE_MAX_MEMORY must be a size/);
  expect([formatBytes(512), formatBytes(1536), formatBytes(200 * 2 ** 20), formatBytes(2 ** 42)]).toEqual([
    "512 B",
    "1.5 KB",
    "200 MB",
    "4.0 TB",
  ]);
});

test("a dataset's fingerprint is of its lines; resume tells the same data from other data", () => {
  expect(fingerprintLines(["ab", "c"])).toEqual({
    lines: 2,
    bytes: 5,
    // printf 'ab\nc\n' | sha256sum
    sha256: "1b10891da7a8bc413923775af7702b007cbf489c6f600255dca8fc1d7889d612",
  });
  // the same lines read from a file with CRLF endings and blank lines are the same data
  expect(fingerprintLines(splitLines("ab\r\n\r\nc\r\n"))).toEqual(fingerprintLines(["ab", "c"]));
  const words = ["emma", "ava"];
  const vocab = Vocab.fromWords(words);
  const saved = datasetRecord("a.txt", words, vocab, 42);
  expect(saved).toMatchObject({ source: "a.txt", file: null, lines: 2, bytes: 9, vocab: ".aemv", splitSeed: 42 });
  const same = datasetRecord("b.txt", [...words], vocab, 42);
  expect(checkResumeData("run", saved, "a.txt", same, words, false)).toEqual({ changed: false, note: null });
  const other = datasetRecord("c.txt", ["eva", "mae"], vocab, 42);
  expect(() => checkResumeData("run", saved, "a.txt", other, ["eva", "mae"], false)).toThrow(
    new DataChangedError(
      `cannot resume run on other data: it was trained on a.txt (2 lines, 9 bytes, sha256 ${saved.sha256.slice(0, 8)}), ` +
        `not on c.txt (2 lines, 8 bytes, sha256 ${other.sha256.slice(0, 8)}); ` +
        "pass --new-data to go on training on it on purpose, or train into another folder",
    ),
  );
  expect(checkResumeData("run", saved, "a.txt", other, ["eva", "mae"], true)).toEqual({ changed: true, note: null });
  const accents = datasetRecord("d.txt", ["zoë"], vocab, 42);
  expect(() => checkResumeData("run", saved, "a.txt", accents, ["zoë"], true)).toThrow(
    /^cannot resume run on d\.txt: it holds characters the run's vocabulary lacks \("z", "o", "ë"\)/,
  );
  const resplit = datasetRecord("a.txt", words, vocab, 7);
  expect(() => checkResumeData("run", saved, "a.txt", resplit, words, false)).toThrow(/split with seed 42 \(now 7\)/);
  // a run written before data records: compared by name, with a note
  expect(checkResumeData("run", null, "a.txt", saved, words, false).note).toMatch(/records no fingerprint/);
  expect(() => checkResumeData("run", null, "other.txt", saved, words, false)).toThrow(DataChangedError);
});

test("a sequence model with a fused graph is estimated from its graph's layout and its lines", () => {
  const config = resolveConfig({ model: "gru", blockSize: 506, batchSize: 32 });
  const size = { lines: 57000, chars: 57000 * 120 }; // Brown's sentences up to 505 characters
  const e = estimateRunMemory(config, size, 85, { fusedAvailable: true });
  expect(e.engine).toBe("fused");
  const model = buildModel(config, 85);
  if (!isOpsModel(model)) throw new Error("the GRU has no fused graph");
  const part = (name: string): number => e.parts.find((p) => p.name.startsWith(name))?.bytes ?? NaN;
  expect(part("fused kernel memory")).toBe(graphBytes(model, 32));
  expect(part("evaluation")).toBe(2 * graphBytes(model, 32, false)); // 16,384 tokens: 32 lines of 506
  expect(part("data")).toBe(2 * 57000 * 2 * 507 * 4 + size.chars * 2 + 57000 * 32); // X and Y of each line, not a window per character
  expect(e.total).toBeLessThan(2 ** 30);
  model.dispose();
});

test("evaluations of long lines take a subset of at most 400,000 positions; names keep their 25,000 lines", () => {
  expect(evalSubsetSize("context", 3)).toBe(25000);
  expect(evalSubsetSize("sequence", 16)).toBe(25000);
  expect(evalSubsetSize("sequence", 506)).toBe(790);
  const long = Array.from({ length: 3000 }, (_, i) => "ab".repeat(150 + (i % 50))); // lines of 300 to 398 characters
  const data = prepareExperimentData(long, 399, undefined, "sequence");
  expect(data.evalSplits.train.n).toBe(Math.floor(400_000 / 399));
  expect(data.evalSplits.val.n).toBe(300); // the whole val split is smaller than the cap
});
