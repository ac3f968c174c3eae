/**
 * The kernels on a pool of worker threads (lib/engines/kernel-pool.ts): a
 * split call gives the bits of one call whatever the thread count (products,
 * attention, GELU, LayerNorm, column sums, adds, AdamW, evaluation), every CLI model kind trains to the
 * same log and samples at 1, 2 and 3 threads, a failing part throws its
 * worker's message, bad thread counts are refused with one line, the tensor
 * count stays flat, and the workers end with their pool.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sampleBatchInto } from "../lib/data/examples";
import { buildSequences } from "../lib/data/sequences";
import { Vocab } from "../lib/data/vocab";
import { GraphNet, type GraphModel } from "../lib/engines/graph-net";
import { KernelCalls, mat, setSplitMin, type Mat } from "../lib/engines/kernel-calls";
import { createEngine } from "../lib/engines/factory";
import type { FusedEngine } from "../lib/engines/fused-engine";
import { kernelWorkers, KernelPool, threadsPerProcess } from "../lib/engines/kernel-pool";
import { KernelMemory } from "../lib/engines/kernels";
import { resolveConfig } from "../lib/experiments/hyperparams";
import { buildModel } from "../lib/experiments/run-model";
import { isOpsModel } from "../lib/models/model";
import { MODEL_KINDS } from "../lib/models/registry";
import { AdamW } from "../lib/optim/optimizers";
import { Generator } from "../lib/random/generator";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";
import { train } from "../lib/training/train";
import { expectError, inProcess, ROOT, runCli, syntheticNames, tempDir, writeNames } from "./support/cli";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

/** Pools by thread count, shared by the tests of this file and stopped at its end. */
const pools = new Map<number, KernelPool>();
function pool(threads: number): KernelPool | null {
  if (threads === 1) return null;
  const p = pools.get(threads) ?? new KernelPool(threads);
  pools.set(threads, p);
  return p;
}
afterAll(() => pools.forEach((p) => p.dispose()));

/** Waits (up to 5 s) until `n` kernel workers are running: a disposed pool's end soon after. */
async function workersBecome(n: number): Promise<number> {
  for (let t = 0; t < 100 && kernelWorkers() !== n; t++) await new Promise((r) => setTimeout(r, 50));
  return kernelWorkers();
}

/** Bit patterns, so that a test compares floats exactly (NaN and -0 included). */
const bits = (a: Float32Array): Int32Array => new Int32Array(a.slice().buffer);

/** How many values of each array differ from the first list's (a failure prints counts, not two huge arrays). */
const differing = (want: Int32Array[], got: Int32Array[]): number[] =>
  want.map((w, i) => w.filter((v, j) => v !== got[i]?.[j]).length);

describe("a split call gives the bits of one call", () => {
  // these sizes are small: split every call from 65,536 multiply-adds on, as the kernels did before 2^20
  let previous = 0;
  beforeAll(() => (previous = setSplitMin(1 << 16)));
  afterAll(() => setSplitMin(previous));

  /** The same products on a memory of its own, its calls split over `threads`. */
  function products(threads: number): Float32Array[] {
    const mem = new KernelMemory();
    const p = pool(threads);
    const k = new KernelCalls(mem.k, p ? p.attach(mem, mem.k) : null);
    const g = new Generator(7);
    const fill = (rows: number, cols: number) => {
      const m = mat(mem.alloc(rows * cols), rows, cols);
      mem.f32(m.at, rows * cols).set(Array.from({ length: rows * cols }, () => g.randn()));
      return m;
    };
    // odd sizes: parts of 4 rows but the last, a shared dimension over one block of 256, a bias
    const [A, B, bias, C] = [fill(37, 300), fill(300, 29), fill(1, 29), fill(37, 29)];
    k.matmul(C, A, B, 1, bias);
    const [X, dY, dW] = [fill(301, 45), fill(301, 29), fill(45, 29)];
    // a weight gradient split by K at 2 threads (301 rows: a block of 256 and one of 45, a block a
    // thread), accumulating: the same bits as one call's blocks
    const [dWk, partials] = [fill(45, 29), fill(1, 45 * 29)];
    k.matmulAtB(dWk, X, dY, 1, partials);
    k.matmulAtB(dW, X, dY, 0);
    // with a bias's gradient beside it (the column sums of dY, accumulating), split the same way
    const [dWb, dbk, biasPartials] = [fill(45, 29), fill(1, 29), fill(1, 45 * 29 + 29)];
    k.matmulAtB(dWb, X, dY, 0, biasPartials, { db: dbk, acc: 1 });
    // by rows in parts of 4: 304, 304 and 293 rows at 3 threads (45 values a row: parts of 180k + 45 values)
    const [x, y, gate] = [fill(901, 45), fill(901, 45), fill(901, 45)];
    k.geluForward(y, x, gate);
    const [t, dt] = [fill(901, 45), fill(901, 45)];
    k.tanhForward(t, x);
    k.tanhBackward(dt, t, y);
    // LayerNorm: the forward pass by rows in parts of 4 (the backward pass runs whole)
    const [ln, gamma, beta, mean, rstd] = [fill(901, 45), fill(1, 45), fill(1, 45), fill(901, 1), fill(901, 1)];
    k.layerNormForward(ln, x, { gamma, beta, eps: 1e-5, mean, rstd });
    const [dln, dgamma, dbeta] = [fill(901, 45), fill(1, 45), fill(1, 45)];
    k.layerNormBackward({ dx: dln, dgamma, dbeta }, { x: 1, gamma: 1, beta: 0 }, y, { x, gamma, mean, rstd });
    const db = fill(1, 45); // columns in parts of 16: 16, 16 and 13 at 3 threads
    k.colSum(db, X, 1);
    const [sum, acc] = [fill(901, 45), fill(901, 45)];
    k.addForward(sum, x, y);
    k.addGrad(acc, gate, 1);
    const [w, dw, m1, m2] = [fill(1, 9001), fill(1, 9001), fill(1, 9001), fill(1, 9001)];
    mem.f32(m2.at, 9001).forEach((x, i, v) => (v[i] = x * x)); // a second moment is not negative
    const c = { decay: 0.999, beta1: 0.9, keep1: 0.1, beta2: 0.99, keep2: 0.01, stepSize: 1e-3, bc2Sqrt: 0.3, eps: 1e-8 }; // prettier-ignore
    k.adamwUpdate(w, dw, m1, m2, c);
    return [C, dW, dWk, dWb, dbk, y, gate, t, dt, ln, mean, rstd, dln, dgamma, dbeta, db, sum, acc, w, m1, m2].map(
      (m) => mem.f32(m.at, m.rows * m.cols).slice(),
    );
  }

  test("matmul (with bias, accumulating), matmulAtB (by rows and by K), GELU, tanh, LayerNorm, column sums, adds and AdamW at 2 and 3 threads", () => {
    const one = products(1).map(bits);
    for (const threads of [2, 3]) expect(differing(one, products(threads).map(bits))).toEqual(one.map(() => 0));
  });

  /** A small model's loss, gradients and evaluation totals on `threads` threads. */
  function netRun(kind: string, threads: number): { loss: number; grads: Int32Array[]; evalTotal: number } {
    const words = syntheticNames(80, 3);
    const vocab = Vocab.fromWords(words);
    const data = buildSequences(words, vocab, Math.max(...words.map((w) => w.length)) + 1);
    // sizes over the split threshold of every call kind (attention: B·T·T·C)
    const shape = kind === "transformer" ? { nLayers: 2, nHead: 3, nEmbd: 96 } : { nEmbd: 16, nEmbd2: 64 };
    const model = buildModel(resolveConfig({ model: kind, ...shape, blockSize: data.blockSize }), vocab.size);
    if (!isOpsModel(model)) throw new Error(`${kind} has no fused graph`);
    const B = 64; // lines: parts of 22, 22 and 20 at 3 threads; LayerNorm over [B·T, 96] splits too
    const fill = (net: GraphNet) => {
      const { X, Y } = net.batchViews();
      X.set(data.X.subarray(0, net.batch * data.blockSize));
      Y.set(data.Y.subarray(0, net.batch * data.blockSize));
    };
    const train = new GraphNet(model as unknown as GraphModel, B, true, pool(threads));
    train.load();
    fill(train);
    const loss = train.forwardBackward();
    const grads = train.gradViews().map(bits);
    // evaluation: more lines, so that the threads' attention parts (each with its own block of P) overlap in time
    const evalNet = new GraphNet(model as unknown as GraphModel, 48, false, pool(threads));
    evalNet.copyStateFrom(train);
    fill(evalNet);
    const evalTotal = evalNet.evalTotals(45).total;
    model.dispose();
    return { loss, grads, evalTotal };
  }

  test.each(["transformer", "gru", "bow"])("%s: loss, gradients and evaluation at 2 and 3 threads", (kind) => {
    const one = netRun(kind, 1);
    expect(Number.isFinite(one.loss)).toBe(true);
    for (const threads of [2, 3]) {
      const { loss, grads, evalTotal } = netRun(kind, threads);
      expect({ threads, loss, evalTotal, grads: differing(one.grads, grads) }).toEqual({
        ...{ threads, loss: one.loss, evalTotal: one.evalTotal },
        grads: one.grads.map(() => 0),
      });
    }
  });
});

test("row-local calls in a chain wait once, at its end, past the depth of a worker's queue, with the bits of one call", () => {
  const previous = setSplitMin(1 << 12);
  try {
    const mem = new KernelMemory();
    const p = pool(2) as KernelPool;
    const [split, whole] = [new KernelCalls(mem.k, p.attach(mem, mem.k)), new KernelCalls(mem.k)];
    const [A, W, H, C, D] = [0, 1, 2, 3, 4].map(() => mat(mem.alloc(64 * 64), 64, 64)) as [Mat, Mat, Mat, Mat, Mat];
    mem.f32(A.at, 64 * 64).forEach((_, i, a) => (a[i] = Math.sin(i)));
    mem.f32(W.at, 64 * 64).forEach((_, i, a) => (a[i] = Math.cos(i) / 8));
    // 40 calls, each reading the rows the one before wrote: the ring of 16 calls wraps
    const chain = (k: KernelCalls, out: Mat): void => {
      for (let i = 0; i < 20; i++) {
        k.matmul(H, i === 0 ? A : out, W);
        k.tanhForward(out, H);
      }
    };
    chain(whole, D);
    const joins = p.joins;
    split.chaining(() => chain(split, C));
    expect(p.joins - joins).toBe(1);
    expect(differing([bits(mem.f32(D.at, 64 * 64))], [bits(mem.f32(C.at, 64 * 64))])).toEqual([0]);
    // outside a chaining scope each call waits for its parts: what it wrote can be read at once
    chain(split, C);
    expect(p.joins - joins).toBe(41);
  } finally {
    setSplitMin(previous);
  }
});

test("a part that fails throws its worker's message, and the pool goes on", () => {
  const mem = new KernelMemory();
  const p = pool(2) as KernelPool;
  const k = new KernelCalls(mem.k, p.attach(mem, mem.k));
  const C = mat(mem.alloc(64 * 64), 64, 64);
  // B 4 GiB away: the worker's rows read out of bounds (the first part's too)
  const far = mat(2 ** 31, 64, 64);
  expect(() => k.matmul(C, far, far)).toThrow(/^(kernel thread: )?memory access out of bounds/);
  const A = mat(mem.alloc(64 * 64), 64, 64);
  mem.f32(A.at, 64 * 64).fill(1);
  k.matmul(C, A, A);
  expect(mem.f32(C.at, 64 * 64).every((v) => v === 64)).toBe(true);
});

test("parts no worker has taken yet (workers asleep) run on the calling thread, with the same bits", () => {
  // in a process of its own: jest's sandbox slows this thread down enough that the workers always win the race
  const script = [
    'require("tsx/cjs");',
    'const { KernelCalls, mat, setSplitMin } = require("./lib/engines/kernel-calls");',
    "setSplitMin(1 << 16);", // 64·64·64 multiply-adds: split, as every call over 65,536 was before 2^20
    'const { KernelPool } = require("./lib/engines/kernel-pool");',
    'const { KernelMemory } = require("./lib/engines/kernels");',
    "const mem = new KernelMemory();",
    // 15 workers woken one after the other for parts of microseconds: some are still waking when this thread is done
    "const p = new KernelPool(16);",
    "const split = new KernelCalls(mem.k, p.attach(mem, mem.k));",
    "const whole = new KernelCalls(mem.k);",
    "const [A, C, D, E, F] = [0, 1, 2, 3, 4].map(() => mat(mem.alloc(64 * 64), 64, 64));",
    "mem.f32(A.at, 64 * 64).forEach((_, i, a) => (a[i] = Math.sin(i)));",
    "whole.matmul(D, A, A);",
    "whole.tanhForward(F, D);",
    "let same = true;",
    "const sleep = new Int32Array(new SharedArrayBuffer(4));",
    "for (let i = 0; i < 200 && p.takenHere === 0; i++) {",
    "  Atomics.wait(sleep, 0, 0, 5);", // long enough for the workers' spins to end in sleeps
    "  split.matmul(C, A, A);",
    "  same &&= mem.f32(C.at, 64 * 64).every((v, j) => Object.is(v, mem.f32(D.at, 64 * 64)[j]));",
    // a chain: a worker's second call is queued behind its first, and whoever runs them runs them in order
    "  Atomics.wait(sleep, 0, 0, 5);",
    "  split.chaining(() => { split.matmul(C, A, A); split.tanhForward(E, C); });",
    "  same &&= mem.f32(E.at, 64 * 64).every((v, j) => Object.is(v, mem.f32(F.at, 64 * 64)[j]));",
    "}",
    "let refused = '';",
    "p.dispose();",
    "try { split.matmul(C, A, A); } catch (e) { refused = e.message; }",
    "process.stdout.write(JSON.stringify({ taken: p.takenHere > 0, same, refused }));",
  ].join("\n");
  const r = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60000 });
  expect([r.status, r.stderr]).toEqual([0, ""]);
  expect(JSON.parse(r.stdout)).toEqual({ taken: true, same: true, refused: "the kernel pool is disposed" });
});

describe("train() on threads", () => {
  const words = syntheticNames(200, 5);
  const vocab = Vocab.fromWords(words);
  const data = buildSequences(words, vocab, Math.max(...words.map((w) => w.length)) + 1);

  test("bad thread counts are refused with one line", async () => {
    const model = buildModel(resolveConfig({ model: "bow", blockSize: data.blockSize }), vocab.size);
    for (const threads of [0, -1, 1.5, NaN]) {
      await expect(train(model, data, { steps: 1, threads, progress: false })).rejects.toThrow(
        `threads must be a whole number of at least 1, got ${threads}`,
      );
    }
    model.dispose();
  });

  test("an engine's workers end when it is disposed", async () => {
    const model = buildModel(resolveConfig({ model: "bow", blockSize: data.blockSize }), vocab.size);
    const before = kernelWorkers();
    const engine = createEngine(model, {
      batchSize: 8,
      targetWidth: data.blockSize,
      optimizer: new AdamW(),
      threads: 3,
    });
    expect(kernelWorkers()).toBe(before + 2);
    engine.dispose();
    expect(await workersBecome(before)).toBe(before);
    model.dispose();
  });

  test("an engine on 2 threads times its first steps both ways and keeps the faster: its losses are those of 1 thread", () => {
    const previous = setSplitMin(1 << 12); // the GRU's small products split too, so that the two ways differ in what runs where
    const losses = (threads: number): { losses: number[]; inUse: number; chosen: boolean } => {
      const model = buildModel(resolveConfig({ model: "gru", blockSize: data.blockSize }), vocab.size);
      const engine = createEngine(model, { batchSize: 16, targetWidth: data.blockSize, optimizer: new AdamW(), threads }); // prettier-ignore
      const g = new Generator(3);
      // past the 32 steps of the timing: some run threaded, some not, then the faster way
      const out = Array.from({ length: 40 }, () => {
        sampleBatchInto(data, g, engine.batch);
        const loss = engine.step(1e-3);
        return typeof loss === "number" ? loss : NaN; // the fused engine's loss is a number
      });
      const { threadsInUse: inUse, threadsChosen: chosen } = engine as FusedEngine;
      engine.dispose();
      model.dispose();
      return { losses: out, inUse, chosen };
    };
    const one = losses(1);
    const two = losses(2);
    setSplitMin(previous);
    expect(two.losses).toEqual(one.losses);
    expect({ inUse: one.inUse, chosen: one.chosen }).toEqual({ inUse: 1, chosen: false }); // nothing to choose on 1
    expect(two.chosen).toBe(true); // the timing ended: steps ran both ways
    expect([1, 2]).toContain(two.inUse);
  });

  test("the tensor count stays flat across steps at 2 threads", async () => {
    const model = buildModel(
      resolveConfig({ model: "transformer", nLayers: 1, blockSize: data.blockSize }),
      vocab.size,
    );
    const seen: number[] = [];
    await train(model, data, {
      steps: 30,
      optimizer: "adamw",
      lr: 1e-3,
      threads: 2,
      syncEvery: 10,
      evalEvery: 10,
      onStep: () => void seen.push(tf.memory().numTensors),
      progress: false,
    });
    expect(new Set(seen).size).toBe(1);
    model.dispose();
  });
});

describe("makemore train --threads", () => {
  const dir = tempDir("mm-threads-");
  const input = writeNames(dir, 200);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The log's losses (columns 2-4: step, train, val) and the samples of a short run of `kind` on `threads` threads. */
  async function run(kind: string, threads: number): Promise<{ log: string; samples: string }> {
    const out = path.join(dir, `${kind}-${threads}`);
    const args = ["train", "-i", input, "-o", out, "--model", kind, "--max-steps", "12", "--eval-every", "6"];
    const r = await inProcess([...args, "--samples", "4", "--threads", String(threads)]);
    expect([kind, threads, r.code]).toEqual([kind, threads, 0]);
    const log = fs.readFileSync(path.join(out, "log.csv"), "utf8").split("\n");
    const losses = log.map((l) => l.split(",").slice(1, 4).join(",")).join("\n");
    return { log: losses, samples: fs.readFileSync(path.join(out, "samples.txt"), "utf8") };
  }

  test.each(MODEL_KINDS.map((k) => [k]))("%s: the same log and samples at 1, 2 and 3 threads", async (kind) => {
    const one = await run(kind, 1);
    expect(one.log.split("\n").length).toBeGreaterThan(3);
    for (const threads of [2, 3]) expect(await run(kind, threads)).toEqual(one);
  });

  test.each(["0", "1.5", "abc", "-2", "257"])(
    "--threads %s is refused with one line, exit 2, nothing written",
    async (v) => {
      const out = path.join(dir, `bad-${v}`);
      const r = await inProcess(["train", "-i", input, "-o", out, "--threads", v]);
      const why = v === "257" ? "it must be at most 256." : "it must be an integer of at least 1.";
      expectError(r, 2, `makemore: error: option '--threads <n>' argument '${v}' is invalid. ${why}`);
      expect(fs.existsSync(out)).toBe(false);
    },
  );

  test("a run on 2 threads exits by itself when it is done (its workers end with the engine)", async () => {
    const out = path.join(dir, "exits");
    const r = await runCli(["train", "-i", input, "-o", out, "--model", "bow", "--max-steps", "5", "--threads", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/finished/);
  });
});

test("processes sharing the cores (a grid's workers, makemore worker's) take a share each", () => {
  expect([1, 2, 3].map((n) => threadsPerProcess(n, 2))).toEqual([2, 1, 1]);
  expect([1, 3, 4, 16].map((n) => threadsPerProcess(n, 8))).toEqual([8, 2, 2, 1]);
});

test("a pool's workers end when it is disposed: a script that never disposes its pool still exits", () => {
  const script = [
    'require("tsx/cjs");',
    'const { KernelPool } = require("./lib/engines/kernel-pool");',
    'const { KernelMemory } = require("./lib/engines/kernels");',
    "const mem = new KernelMemory();",
    "const kept = new KernelPool(3); kept.attach(mem, mem.k);",
    "const p = new KernelPool(2); p.attach(mem, mem.k); p.dispose();",
    'process.stdout.write("ok");',
  ].join("\n");
  const r = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8", timeout: 30000 });
  expect([r.status, r.signal, r.stdout]).toEqual([0, null, "ok"]);
});
