/**
 * Lecture 5's layers on [B, T, C] inputs (FlattenConsecutive, BatchNorm1d over
 * dimensions 0 and 1, and its dimension-0 bug) against hand computation, and
 * the hierarchical network: its parameter counts, its layer shapes, and its
 * fused form (flatten layers, and the bug's per-position statistics) against
 * tfjs autodiff, the tfjs forward pass and training on the tfjs engine.
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { BatchNorm1d, Embedding, FlattenConsecutive, Sequential } from "../lib/nn/layers";
import { HierarchicalMLP, hierarchicalParameterCount } from "../lib/models/hierarchical";
import { checkFusedGradients } from "../lib/engines/gradient-check";
import { graphBytes, GraphNet, type GraphModel } from "../lib/engines/graph-net";
import { applyAll, type Applies } from "../lib/nn/ops-interface";
import { countParameters } from "../lib/models/model";
import { modelState } from "../lib/models/model";
import { crossEntropy } from "../lib/nn/ops";
import { TorchGenerator } from "../lib/random/torch";
import { tf } from "../lib/runtime/tf";
import { train } from "../lib/training/train";
import { smallSplit } from "./support/training";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

/** x[b, t, c] = 100b + 10t + c: every entry names its own position. */
function indexTensor(B: number, T: number, C: number): tfjs.Tensor3D {
  const v: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) v.push(100 * b + 10 * t + c);
  return tf.tensor3d(v, [B, T, C]);
}

/** A [B, T, C] tensor of seeded normal values, and the same values as nested arrays. */
function randomInput(B: number, T: number, C: number): { x: tfjs.Tensor3D; rows: number[][][] } {
  const flat = Array.from(new TorchGenerator(7).randnArray(B * T * C), (v) => v * 2 + 1);
  const rows = Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => flat.slice((b * T + t) * C, (b * T + t + 1) * C)),
  );
  return { x: tf.tensor3d(flat, [B, T, C]), rows };
}

/** Normalizes `vals` with their own mean and variance over `divisor`. */
function normalized(vals: number[], divisor: number, eps = 1e-5): number[] {
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / divisor;
  return vals.map((v) => (v - mean) / Math.sqrt(variance + eps));
}

beforeAll(async () => {
  await initBackend("cpu");
});

describe("FlattenConsecutive", () => {
  test("merges n neighbouring positions: [B, T, C] -> [B, T/n, C·n]", () => {
    const y = new FlattenConsecutive(2).forward(indexTensor(2, 4, 3));
    expect(y.shape).toEqual([2, 2, 6]);
    const rows = y.arraySync() as number[][][];
    // example 1, second group: positions 2 and 3 side by side
    expect(rows[1]?.[1]).toEqual([120, 121, 122, 130, 131, 132]);
  });

  test("drops the position axis when one group is left, and refuses a ragged split", () => {
    const layer = new FlattenConsecutive(4);
    const y = layer.forward(indexTensor(2, 4, 3));
    expect(y.shape).toEqual([2, 12]);
    expect((y.arraySync() as number[][])[0]).toEqual([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
    expect(() => new FlattenConsecutive(3).forward(indexTensor(2, 4, 3))).toThrow(RangeError);
    expect(() => new FlattenConsecutive(2).forward(tf.zeros([2, 4]))).toThrow(RangeError);
  });
});

describe("BatchNorm1d over [B, T, C]", () => {
  test("takes the statistics over dimensions 0 and 1 together", () => {
    const { x, rows } = randomInput(3, 2, 2);
    const bn = new BatchNorm1d(2, { unbiasedNormalization: true });
    const y = bn.forward(x).arraySync() as number[][][];
    for (let c = 0; c < 2; c++) {
      const column = rows.flatMap((r) => r.map((pos) => pos[c] as number)); // 6 values
      const expected = normalized(column, 5);
      const got = y.flatMap((r) => r.map((pos) => pos[c] as number));
      got.forEach((g, i) => expect(g).toBeCloseTo(expected[i] as number, 4));
    }
    expect(bn.runningMean.shape).toEqual([2]);
  });

  test("the lecture's bug: statistics over dimension 0 only, one set per position", () => {
    const { x, rows } = randomInput(3, 2, 2);
    const bn = new BatchNorm1d(2, { positionwise: 2 });
    const y = bn.forward(x).arraySync() as number[][][];
    for (let t = 0; t < 2; t++) {
      for (let c = 0; c < 2; c++) {
        const column = rows.map((r) => r[t]?.[c] as number); // 3 values
        const expected = normalized(column, 3);
        y.forEach((r, b) => expect(r[t]?.[c]).toBeCloseTo(expected[b] as number, 4));
      }
    }
    // running statistics [T, C], stored flat; the mean moved by 0.1 of the batch mean
    expect(bn.runningMean.shape).toEqual([4]);
    const mean00 = rows.reduce((a, r) => a + (r[0]?.[0] as number), 0) / 3;
    expect(values(bn.runningMean)[0]).toBeCloseTo(0.1 * mean00, 5);
    bn.training = false;
    expect(bn.forward(x).shape).toEqual([3, 2, 2]);
  });
});

describe("the hierarchical network", () => {
  const counts: [string, ConstructorParameters<typeof HierarchicalMLP>[0], number][] = [
    ["3-character MLP", { vocabSize: 27, nEmbd: 10, nHidden: 200, groups: [3] }, 12097],
    ["context 8, flat", { vocabSize: 27, nEmbd: 10, nHidden: 200, groups: [8] }, 22097],
    ["hierarchical", { vocabSize: 27, nEmbd: 10, nHidden: 68, groups: [2, 2, 2] }, 22397],
    ["n_embd 24, n_hidden 128", { vocabSize: 27 }, 76579],
  ];
  test.each(counts)("%s has the lecture's parameter count", (_name, config, expected) => {
    const model = new HierarchicalMLP(config);
    expect(countParameters(model)).toBe(expected);
    expect(hierarchicalParameterCount(config)).toBe(expected);
    model.dispose();
  });

  test("the embedding is torch.randn of the lecture's seed, and the layer shapes follow the walk", () => {
    const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 10, nHidden: 68 });
    const C = values((model.layers[0] as Embedding).weight);
    expect(C.slice(0, 4)).toEqual(Array.from(new TorchGenerator(42).randnArray(270).slice(0, 4)));
    const shapes: number[][] = [];
    tf.tidy(() => {
      const X = tf.zeros([4, 8], "int32") as tfjs.Tensor2D;
      (model.net as Sequential).forward(X, (out) => {
        shapes.push([...out.shape]);
        return out;
      });
    });
    expect(shapes.slice(0, 5)).toEqual([
      [4, 8, 10],
      [4, 4, 20],
      [4, 4, 68],
      [4, 4, 68],
      [4, 4, 68],
    ]);
    expect(shapes.slice(5, 9)).toEqual([
      [4, 2, 136],
      [4, 2, 68],
      [4, 2, 68],
      [4, 2, 68],
    ]);
    expect(shapes.slice(9)).toEqual([
      [4, 136],
      [4, 68],
      [4, 68],
      [4, 68],
      [4, 27],
    ]);
    model.dispose();
  });

  test.each([false, true])("its fused backward pass (batch-norm bug: %p) matches tfjs autodiff", (batchNormBug) => {
    const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 6, nHidden: 12, batchNormBug });
    // one training step first, so that gamma and beta are no longer ones and zeros
    const warm = new TorchGenerator(2);
    const net = new GraphNet(model, 16);
    net.load();
    net.batchViews().X.set(warm.randintArray(16 * 8, 0, 27));
    net.batchViews().Y.set(warm.randintArray(16, 0, 27));
    net.forwardBackward();
    net.sgdStep(0.5);
    net.store();
    const g = new TorchGenerator(3);
    const X = g.randintArray(16 * 8, 0, 27);
    const Y = g.randintArray(16, 0, 27);
    const check = checkFusedGradients(model, X, Y);
    expect(Math.abs(check.fusedLoss - check.tfjsLoss)).toBeLessThan(1e-5);
    expect(check.params).toHaveLength(model.parameters().length);
    for (const p of check.params) expect(p.maxAbsDiff).toBeLessThan(1e-5 * Math.max(1, p.maxAbsGrad));
    model.dispose();
  });

  test.each([false, true])(
    "its fused loss and running statistics (batch-norm bug: %p) match its tfjs forward pass",
    (batchNormBug) => {
      const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 6, nHidden: 12, batchNormBug });
      const g = new TorchGenerator(5);
      const X = g.randintArray(8 * 8, 0, 27);
      const Y = g.randintArray(8, 0, 27);
      expect(model.layers.map((l) => l.kind).slice(0, 3)).toEqual(["Embedding", "FlattenConsecutive", "Linear"]);
      const net = new GraphNet(model, 8);
      // the layout counted without memory is the net's, after the module's static data
      expect(net.bytes - graphBytes(model, 8)).toBe(new GraphNet(model, 2).bytes - graphBytes(model, 2));
      net.load();
      net.batchViews().X.set(X);
      net.batchViews().Y.set(Y);
      const fusedLoss = net.forwardBackward();
      const tfjsLoss = tf.tidy(() => {
        const logits = model.forward(tf.tensor2d(X, [8, 8], "int32"), true);
        return crossEntropy(logits, tf.tensor1d(Y, "int32")).dataSync()[0] as number;
      });
      expect(fusedLoss).toBeCloseTo(tfjsLoss, 5);
      // both moved the running statistics once from the same start: the fused copy still holds its own
      const tfjsRunning = model.buffers().map(values);
      net.store();
      const fusedRunning = model.buffers().map(values);
      // the bug's first two levels keep [positions · features]: 4 · 12 and 2 · 12, then 12
      expect(fusedRunning.map((r) => r.length)).toEqual(
        batchNormBug ? [48, 48, 24, 24, 12, 12] : [12, 12, 12, 12, 12, 12],
      );
      fusedRunning.forEach((r, j) => r.forEach((v, i) => expect(v).toBeCloseTo(tfjsRunning[j]?.[i] as number, 5)));
      // evaluation on the running statistics agrees too
      const evalNet = new GraphNet(model, 8, false); // evaluation mode is laid out
      evalNet.load();
      evalNet.batchViews().X.set(X);
      evalNet.batchViews().Y.set(Y);
      const evalFused = evalNet.evalTotals(8).total / 8;
      const evalTfjs = tf.tidy(() => {
        const logits = model.forward(tf.tensor2d(X, [8, 8], "int32"), false);
        return crossEntropy(logits, tf.tensor1d(Y, "int32")).dataSync()[0] as number;
      });
      expect(evalFused).toBeCloseTo(evalTfjs, 4);
      model.dispose();
    },
  );

  test("the buggy batch norm's fused form: statistics over the examples while positions remain", () => {
    const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 6, nHidden: 12, batchNormBug: true });
    const over = model.layers.flatMap((l) => (l instanceof BatchNorm1d ? [l.state().statsOver] : []));
    expect(over).toEqual(["examples", "examples", "rows"]);
    model.dispose();
    // running statistics that do not fit the positions are refused when the layout is made
    const fixed = new HierarchicalMLP({ vocabSize: 27, nEmbd: 6, nHidden: 12 });
    const perPosition = (l: Applies): Applies =>
      l instanceof BatchNorm1d ? { apply: (o, x) => o.batchNorm(x, { ...l.state(), statsOver: "examples" }) } : l;
    const patched: GraphModel = {
      ...{ blockSize: 8, vocabSize: 27, parameters: () => fixed.parameters() },
      logits: (o) => applyAll(o, fixed.layers.map(perPosition), o.tokens),
    };
    expect(() => new GraphNet(patched, 8)).toThrow(
      "fused graph: running statistics of 12 for 48 columns of statistics",
    );
    fixed.dispose();
  });

  test.each([false, true])(
    "trained fused and on tfjs (batch-norm bug: %p), 30 steps give the same losses and state",
    async (batchNormBug) => {
      const data = smallSplit(400, 8).train;
      const run = async (engine: "fused" | "tfjs"): Promise<{ losses: number[]; state: Float32Array[] }> => {
        const model = new HierarchicalMLP({ vocabSize: 27, nEmbd: 6, nHidden: 12, batchNormBug });
        const r = await train(model, data, { steps: 30, lr: 0.1, batchSize: 16, seed: 4, engine, progress: false });
        expect(r.engine).toBe(engine);
        const state = modelState(model).map((v) => Float32Array.from(v.dataSync() as Float32Array));
        model.dispose();
        return { losses: r.losses, state };
      };
      const fused = await run("fused");
      const ref = await run("tfjs");
      expect(fused.losses).toHaveLength(30);
      fused.losses.forEach((v, i) => expect(Math.abs(v - (ref.losses[i] as number))).toBeLessThan(1e-5 * v));
      // it learned something in 30 steps
      expect(fused.losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(fused.losses[0] as number);
      fused.state.forEach((p, j) => p.forEach((v, i) => expect(v).toBeCloseTo(ref.state[j]?.[i] as number, 4)));
    },
  );
});
