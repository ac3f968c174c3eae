import * as fs from "fs";
import * as path from "path";
import { readCheckpoint, readRunLog, writeCheckpoint, type Checkpoint } from "../lib/index";
import { appendRunLog, isRunTag, newRunTag, parseRunLog, runLogByTag } from "../lib/experiments/runlog";
import {
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadTensorsInto,
  modelTensors,
} from "../lib/experiments/checkpoint";
import { writeFileAtomic } from "../lib/runtime/files";
import { initBackend } from "../lib/runtime/backend";
import { MLP } from "../lib/models/mlp";
import { tf } from "../lib/runtime/tf";
import { tempDir } from "./support/cli";

const sample: Checkpoint<{ model: string }, { step: number }> = {
  config: { model: "mlp" },
  vocab: { chars: [".", "a", "b"] },
  meta: { step: 7 },
  tensors: [
    { shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, -6.5]) },
    { shape: [4], values: Float32Array.from([0.25, 0, -1e-7, 3e8]) },
    { shape: [0], values: new Float32Array(0) },
  ],
};

describe("checkpoint format", () => {
  test("round trip keeps config, vocabulary, meta, shapes and exact float32 values", () => {
    const back = decodeCheckpoint(encodeCheckpoint(sample));
    expect(back.config).toEqual({ model: "mlp" });
    expect(back.vocab).toEqual({ chars: [".", "a", "b"] });
    expect(back.meta).toEqual({ step: 7 });
    expect(back.tensors.map((t) => t.shape)).toEqual([[2, 3], [4], [0]]);
    expect(Array.from(back.tensors[1]!.values)).toEqual(Array.from(sample.tensors[1]!.values));
  });

  test("every truncation is one clear error", () => {
    const bytes = encodeCheckpoint(sample);
    for (const n of [0, 3, 8, 15, 20, 60, bytes.length - 40, bytes.length - 1]) {
      expect(() => decodeCheckpoint(bytes.subarray(0, n), "x.ckpt")).toThrow(CheckpointError);
    }
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1), "x.ckpt")).toThrow(
      `x.ckpt is truncated (${bytes.length - 1} of ${bytes.length} bytes)`,
    );
    expect(() => decodeCheckpoint(bytes.subarray(0, 5), "x.ckpt")).toThrow("x.ckpt is truncated (5 bytes)");
  });

  test("a flipped bit in the weights or the header is caught", () => {
    const bytes = encodeCheckpoint(sample);
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 40] ^= 0x10; // a weight byte
    expect(() => decodeCheckpoint(flipped, "x.ckpt")).toThrow("x.ckpt is corrupted (checksum mismatch)");
    const header = Buffer.from(bytes);
    header[20] ^= 0x01; // inside the header JSON
    expect(() => decodeCheckpoint(header, "x.ckpt")).toThrow(/x.ckpt is (corrupted|truncated)/);
    expect(() => decodeCheckpoint(Buffer.concat([bytes, Buffer.from([0])]), "x.ckpt")).toThrow(/corrupted/);
  });

  test("other files and other format versions are refused by name", () => {
    expect(() => decodeCheckpoint(Buffer.from("tag,step\n1,2,3,4,5\n"), "log.csv")).toThrow(
      "log.csv is not a makemore checkpoint (wrong magic bytes)",
    );
    const v2 = Buffer.from(encodeCheckpoint(sample));
    v2.writeUInt32LE(2, 8);
    expect(() => decodeCheckpoint(v2, "x.ckpt")).toThrow("x.ckpt has format version 2; this code reads version 1");
  });

  test("files are written atomically and read back; a missing file or a folder is a clear error", () => {
    const dir = tempDir("mm-ckpt-");
    const file = path.join(dir, "model.ckpt");
    writeCheckpoint(file, sample);
    writeCheckpoint(file, { ...sample, meta: { step: 8 } });
    expect(readCheckpoint<unknown, { step: number }>(file).meta.step).toBe(8);
    expect(fs.readdirSync(dir)).toEqual(["model.ckpt"]); // no temporary file left behind
    expect(() => readCheckpoint(path.join(dir, "nope.ckpt"))).toThrow(
      `no checkpoint at ${path.join(dir, "nope.ckpt")}`,
    );
    expect(() => readCheckpoint(dir)).toThrow(`${dir} is a directory, not a checkpoint`);
  });

  test("model state (parameters and batch-norm buffers) goes into another model of the same shape", async () => {
    await initBackend("cpu");
    const a = new MLP({ vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4, batchNorm: true, seed: 1 });
    const b = new MLP({ vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4, batchNorm: true, seed: 2 });
    a.bnMeanRunning!.assign(tf.tensor1d([1, 2, 3, 4]));
    const before = tf.memory().numTensors;
    loadTensorsInto(b, decodeCheckpoint(encodeCheckpoint({ ...sample, tensors: modelTensors(a) })).tensors);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(b.W1.dataSync())).toEqual(Array.from(a.W1.dataSync()));
    expect(Array.from(b.bnMeanRunning!.dataSync())).toEqual([1, 2, 3, 4]);
    const c = new MLP({ vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 6, batchNorm: true });
    expect(() => loadTensorsInto(c, modelTensors(a), "m.ckpt")).toThrow(
      "m.ckpt: tensor 1 has shape [6, 4] but the model expects [6, 6]",
    );
    const d = new MLP({ vocabSize: 5, blockSize: 2, nEmbd: 3, nHidden: 4 });
    expect(() => loadTensorsInto(d, modelTensors(a), "m.ckpt")).toThrow("m.ckpt holds 8 tensors but the model has 5");
    [a, b, c, d].forEach((m) => m.dispose());
  });
});

describe("run log", () => {
  test("tags are 24 random bits as 6 hex digits", () => {
    const tags = new Set(Array.from({ length: 50 }, newRunTag));
    expect(tags.size).toBeGreaterThan(45);
    for (const t of tags) expect(isRunTag(t)).toBe(true);
    expect(isRunTag("12345g")).toBe(false);
  });

  test("rows are appended under one header and read back, grouped by tag", () => {
    const file = path.join(tempDir("mm-log-"), "log.csv");
    appendRunLog(file, [{ tag: "aaaaaa", step: 0, trainLoss: 3.3, valLoss: 3.31, seconds: 0.01 }]);
    appendRunLog(file, [
      { tag: "aaaaaa", step: 100, trainLoss: 2.5, valLoss: NaN, seconds: 1.5 },
      { tag: "bbbbbb", step: 0, trainLoss: Infinity, valLoss: 3.3, seconds: 0 },
    ]);
    const text = fs.readFileSync(file, "utf8");
    expect(text.split("\n")[0]).toBe("tag,step,train_loss,val_loss,seconds");
    expect(text.split("\n")[1]).toBe("aaaaaa,0,3.300000,3.310000,0.010");
    const rows = readRunLog(file);
    expect(rows).toHaveLength(3);
    expect(rows[1]).toEqual({ tag: "aaaaaa", step: 100, trainLoss: 2.5, valLoss: NaN, seconds: 1.5 });
    expect(rows[2]!.trainLoss).toBe(Infinity);
    expect([...runLogByTag(rows).keys()]).toEqual(["aaaaaa", "bbbbbb"]);
  });

  test("a torn last line is ignored; a file that is not a run log is refused", () => {
    const rows = parseRunLog("tag,step,train_loss,val_loss,seconds\nabcdef,0,3.3,3.3,0.1\nabcdef,10,2.9");
    expect(rows).toEqual([{ tag: "abcdef", step: 0, trainLoss: 3.3, valLoss: 3.3, seconds: 0.1 }]);
    expect(() => parseRunLog("a,b\n1,2\n", "x.csv")).toThrow("x.csv is not a run log: its header is 'a,b'");
    expect(() => readRunLog("/nonexistent/log.csv")).toThrow("no run log at /nonexistent/log.csv");
  });

  test("writeFileAtomic replaces content in one step", () => {
    const file = path.join(tempDir("mm-atomic-"), "f.txt");
    writeFileAtomic(file, "one");
    writeFileAtomic(file, "two");
    expect(fs.readFileSync(file, "utf8")).toBe("two");
    expect(fs.readdirSync(path.dirname(file))).toEqual(["f.txt"]);
  });
});
