import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../lib/runtime/backend";
import { DeepMLP, deepParameterCount } from "../lib/models/deep";
import { BatchNorm1d, Linear, Tanh } from "../lib/nn/layers";
import { countParameters } from "../lib/models/model";
import { crossEntropy } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import { tf } from "../lib/runtime/tf";
import { describeEachBackend } from "./support/backends";
import { randomBatch } from "./support/training";

const values = (t: tfjs.Tensor): number[] => Array.from(t.dataSync());

/** One plain SGD step: gradients and updates inside one tidy. */
function sgdStep(model: DeepMLP, X: tfjs.Tensor2D, Y: tfjs.Tensor1D, lr: number): number {
  const params = model.parameters();
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(X, true), Y), params);
    for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name] as tfjs.Tensor, lr)));
    return value.dataSync()[0] as number;
  });
}

function lossOf(model: DeepMLP, X: tfjs.Tensor2D, Y: tfjs.Tensor1D, training = true): number {
  return tf.tidy(() => crossEntropy(model.forward(X, training), Y).dataSync()[0] as number);
}

describe("deep network structure", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  test("the lecture's network: 47,024 parameters, Linear/BatchNorm1d/Tanh x5 then Linear/BatchNorm1d", () => {
    const net = new DeepMLP({ vocabSize: 27 });
    expect(countParameters(net)).toBe(47024);
    expect(deepParameterCount({ vocabSize: 27 })).toBe(47024);
    expect(net.layers).toHaveLength(17);
    expect(net.layers.map((l) => l.kind).slice(0, 3)).toEqual(["Linear", "BatchNorm1d", "Tanh"]);
    expect(net.layers[2]).toBeInstanceOf(Tanh);
    expect(net.layers[16]).toBeInstanceOf(BatchNorm1d);
    expect(net.layers.filter((l) => l instanceof Linear).every((l) => (l as Linear).bias === null)).toBe(true);
    expect(net.parameters()[0]).toBe(net.C);
    expect(net.C.shape).toEqual([27, 10]);
    expect(net.buffers()).toHaveLength(12);
    net.dispose();
  });

  test("the no-batch-norm variant has biases and no BatchNorm1d (46,497 parameters)", () => {
    const net = new DeepMLP({ vocabSize: 27, batchNorm: false });
    expect(net.layers.map((l) => l.kind)).toEqual([...Array(5).fill(["Linear", "Tanh"]).flat(), "Linear"]);
    const expected = 27 * 10 + (30 * 100 + 100) + 4 * (100 * 100 + 100) + (100 * 27 + 27);
    expect(countParameters(net)).toBe(expected);
    expect(deepParameterCount({ vocabSize: 27, batchNorm: false })).toBe(expected);
    net.dispose();
  });

  test("initialization: Linear weights (5/3)/sqrt(fanIn), last BatchNorm gamma 0.1 (lecture's layers[:-1] loop)", () => {
    const net = new DeepMLP({ vocabSize: 27, seed: 3 });
    const std = (t: tfjs.Tensor): number => tf.tidy(() => Math.sqrt(tf.moments(t).variance.dataSync()[0] as number));
    const l0 = net.layers[0] as Linear;
    const l3 = net.layers[3] as Linear;
    const last = net.layers[15] as Linear;
    expect(std(l0.weight) / (5 / 3 / Math.sqrt(30))).toBeGreaterThan(0.93);
    expect(std(l0.weight) / (5 / 3 / Math.sqrt(30))).toBeLessThan(1.07);
    expect(std(l3.weight) / (5 / 3 / 10)).toBeGreaterThan(0.97);
    expect(std(l3.weight) / (5 / 3 / 10)).toBeLessThan(1.03);
    expect(std(last.weight) / (5 / 3 / 10)).toBeGreaterThan(0.95);
    expect(std(last.weight) / (5 / 3 / 10)).toBeLessThan(1.05);
    expect(values((net.layers[16] as BatchNorm1d).gamma).every((g) => Math.abs(g - 0.1) < 1e-7)).toBe(true);
    expect(values((net.layers[1] as BatchNorm1d).gamma).every((g) => g === 1)).toBe(true);
    // without batch norm the last Linear's weight takes the 0.1 and no gain
    const plain = new DeepMLP({ vocabSize: 27, batchNorm: false, seed: 3, weightGain: 2 });
    expect(std((plain.layers[10] as Linear).weight) / 0.01).toBeGreaterThan(0.95);
    expect(std((plain.layers[10] as Linear).weight) / 0.01).toBeLessThan(1.05);
    expect(std((plain.layers[2] as Linear).weight) / 0.2).toBeGreaterThan(0.97);
    expect(std((plain.layers[2] as Linear).weight) / 0.2).toBeLessThan(1.03);
    // the same seed gives the same network
    const again = new DeepMLP({ vocabSize: 27, seed: 3 });
    expect(values(again.C)).toEqual(values(net.C));
    expect(values((again.layers[12] as Linear).weight)).toEqual(values((net.layers[12] as Linear).weight));
    for (const m of [net, plain, again]) m.dispose();
  });

  test("rejects contexts of the wrong length", () => {
    const net = new DeepMLP({ vocabSize: 5, nHidden: 4, nLayers: 1 });
    const X = tf.zeros([2, 2], "int32") as tfjs.Tensor2D;
    expect(() => net.forward(X, true)).toThrow(/3 tokens/);
    X.dispose();
    net.dispose();
  });
});

describeEachBackend("deep network", () => {
  test("loss at initialization is close to -ln(1/27) = 3.2958", () => {
    const net = new DeepMLP({ vocabSize: 27 });
    const [X, Y] = randomBatch(1, 64, 3, 27);
    expect(Math.abs(lossOf(net, X, Y) - Math.log(27))).toBeLessThan(0.05);
    tf.dispose([X, Y]);
    net.dispose();
  });

  test("gradients match central finite differences (nHidden 8, 2 hidden blocks)", () => {
    for (const batchNorm of [true, false]) {
      const net = new DeepMLP({
        vocabSize: 7,
        blockSize: 2,
        nEmbd: 3,
        nHidden: 8,
        nLayers: 2,
        lastGamma: 1,
        batchNorm,
        seed: 11,
      });
      const [X, Y] = randomBatch(2, 10, 2, 7);
      const params = net.parameters();
      const analytic = tf.tidy(() => {
        const { grads } = tf.variableGrads(() => crossEntropy(net.forward(X, true), Y), params);
        return params.map((p) => values(grads[p.name] as tfjs.Tensor));
      });
      const pick = new Generator(3);
      const h = 3e-3;
      let worst = 0;
      params.forEach((p, k) => {
        const base = Float32Array.from(p.dataSync());
        for (let trial = 0; trial < 3; trial++) {
          const i = pick.randint(0, p.size);
          const at = (delta: number): number => {
            const v = Float32Array.from(base);
            v[i] = (v[i] as number) + delta;
            tf.tidy(() => p.assign(tf.tensor(v, p.shape)));
            return lossOf(net, X, Y);
          };
          const fd = (at(h) - at(-h)) / (2 * h);
          tf.tidy(() => p.assign(tf.tensor(base, p.shape)));
          const an = (analytic[k] as number[])[i] as number;
          const err = Math.abs(fd - an) / (1e-3 + Math.abs(an));
          worst = Math.max(worst, err);
          if (err > 0.03) throw new Error(`param ${k} entry ${i}: finite difference ${fd}, analytic ${an}`);
        }
      });
      expect(worst).toBeLessThan(0.03);
      tf.dispose([X, Y]);
      net.dispose();
    }
  });

  test("no tensors leak: the count after 30 training steps equals the count after 10", () => {
    const net = new DeepMLP({ vocabSize: 27, nHidden: 32, nLayers: 3 });
    const [X, Y] = randomBatch(4, 32, 3, 27);
    const first = sgdStep(net, X, Y, 0.1);
    for (let i = 1; i < 10; i++) sgdStep(net, X, Y, 0.1);
    const after10 = tf.memory().numTensors;
    let loss = 0;
    for (let i = 0; i < 20; i++) loss = sgdStep(net, X, Y, 0.1);
    expect(tf.memory().numTensors).toBe(after10);
    expect(loss).toBeLessThan(first - 0.2); // it learns the fixed batch
    // keeping outputs holds exactly one tensor per layer, whatever the number of steps
    net.keepOutputs(true);
    sgdStep(net, X, Y, 0.1);
    const kept = tf.memory().numTensors;
    expect(kept).toBe(after10 + net.layers.length + 2);
    for (let i = 0; i < 3; i++) sgdStep(net, X, Y, 0.1);
    expect(tf.memory().numTensors).toBe(kept);
    expect(net.layers[2]?.out?.shape).toEqual([32, 32]);
    net.keepOutputs(false);
    expect(tf.memory().numTensors).toBe(after10);
    tf.dispose([X, Y]);
    net.dispose();
  });

  test("training moves the running statistics; eval mode uses them (a row's logits do not depend on its batch)", () => {
    const net = new DeepMLP({ vocabSize: 27, nHidden: 16, nLayers: 2 });
    const bn = net.layers[1] as BatchNorm1d;
    expect(values(bn.runningMean).every((v) => v === 0)).toBe(true);
    const [X, Y] = randomBatch(5, 32, 3, 27);
    for (let i = 0; i < 3; i++) sgdStep(net, X, Y, 0.1);
    expect(values(bn.runningMean).some((v) => v !== 0)).toBe(true);
    expect(values(bn.runningVar).some((v) => v !== 1)).toBe(true);
    const rm = values(bn.runningMean);
    const [whole, first] = tf.tidy(() => [
      values(net.forward(X, false)).slice(0, 27),
      values(net.forward(X.slice([0, 0], [1, 3]), false)),
    ]);
    whole.forEach((v, j) => expect(Math.abs(v - (first[j] as number))).toBeLessThan(1e-5));
    expect(values(bn.runningMean)).toEqual(rm); // eval leaves them alone
    expect(net.training).toBe(false);
    tf.dispose([X, Y]);
    net.dispose();
  });
});

describe("deep network across backends", () => {
  afterAll(async () => {
    await initBackend("cpu");
  });

  test("wasm and cpu give the same logits, gradients and running statistics", async () => {
    const run = async (backend: "wasm" | "cpu"): Promise<number[][]> => {
      await initBackend(backend);
      const net = new DeepMLP({ vocabSize: 27, nHidden: 24, nLayers: 3, seed: 9 });
      const [X, Y] = randomBatch(6, 16, 3, 27);
      sgdStep(net, X, Y, 0.1);
      const out = tf.tidy(() => {
        const { grads } = tf.variableGrads(() => crossEntropy(net.forward(X, true), Y), net.parameters());
        return [
          values(net.forward(X, false)),
          ...net.parameters().map((p) => values(grads[p.name] as tfjs.Tensor)),
          ...net.buffers().map(values),
        ];
      });
      tf.dispose([X, Y]);
      net.dispose();
      return out;
    };
    const wasm = await run("wasm");
    const cpu = await run("cpu");
    expect(wasm).toHaveLength(cpu.length);
    wasm.forEach((arr, k) => {
      const ref = cpu[k] as number[];
      const scale = Math.max(1e-3, ...ref.map(Math.abs));
      arr.forEach((v, i) => {
        if (Math.abs(v - (ref[i] as number)) > 1e-4 * scale)
          throw new Error(`array ${k} entry ${i}: wasm ${v}, cpu ${ref[i]}`);
      });
    });
  });
});
