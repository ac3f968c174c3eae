/**
 * The kernels of wasm/recurrent.ts, called directly through KernelMemory and
 * checked against float64 references: makemore.py's RNNCell and GRUCell
 * steps, the look-ups of projected embeddings and the MLP's windows. H = 6 and 9 leave a tail of H % 4 columns, done
 * one by one; every output sits between sentinel values that must stay.
 */
import type * as tfjs from "@tensorflow/tfjs";
import { GraphNet } from "../lib/engines/graph-net";
import { isOpsModel } from "../lib/models/model";
import { KernelMemory } from "../lib/engines/kernels";
import { Recurrent } from "../lib/models/rnn";
import { sequenceCrossEntropy } from "../lib/nn/ops";
import { Generator } from "../lib/random/generator";
import { initBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";

beforeAll(async () => {
  await initBackend("wasm", { quiet: true });
});

const SENTINEL = 12345;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Float32 values: standard normal times `scale`, from a seeded generator. */
function randn(g: Generator, n: number, scale = 1): Float32Array {
  return g.randnArray(n).map((v) => v * scale);
}

/** Expects |a[i] - b[i]| ≤ tol for every i (a NaN fails). */
function expectNear(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  expect(worst).toBeLessThanOrEqual(tol);
}

/** A buffer of `n` values copied in, with one vector of sentinels after it. */
function put(mem: KernelMemory, values: Float32Array): number {
  const at = mem.alloc(values.length + 4);
  mem.f32(at, values.length).set(values);
  mem.f32(at + values.length * 4, 4).fill(SENTINEL);
  return at;
}

/** The n values at `at`, after checking that the 4 sentinels after them are intact. */
function get(mem: KernelMemory, at: number, n: number): Float32Array {
  expect(Array.from(mem.f32(at + n * 4, 4))).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
  return mem.f32(at, n).slice();
}

/** The columns [from, from + cols) of rows of `ld` values. */
function columns(a: ArrayLike<number>, rows: number, ld: number, from: number, cols: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out.push(a[i * ld + from + j] as number);
  return out;
}

describe("sigmoid", () => {
  test("sigmoidForward matches 1 / (1 + e^-x) over [-100, 100] within 2e-7 (relative 1e-6 above -80)", () => {
    const mem = new KernelMemory();
    const xs = Float32Array.from({ length: 4003 }, (_, i) => -100 + i * 0.05);
    xs.set([0, -0, 1e-30, -1e-30, 87.5, -87.5, 1e-8], 0);
    const x = put(mem, xs);
    const y = put(mem, new Float32Array(xs.length));
    mem.k.sigmoidForward(xs.length, x, y);
    const got = get(mem, y, xs.length);
    const bad = Array.from(xs).filter((v, i) => {
      const want = sigmoid(v);
      const err = Math.abs((got[i] as number) - want);
      return !(err <= 2e-7 && (v < -80 || err <= 1e-6 * want));
    });
    expect(bad).toEqual([]);
    expect(got[xs.length - 1]).toBe(1); // σ(100) rounds to 1 in float32
  });
});

describe("copies", () => {
  test("broadcastRow repeats a row; copyRows copies between leading dimensions", () => {
    const mem = new KernelMemory();
    const g = new Generator(1);
    const row = put(mem, randn(g, 5));
    const dst = put(mem, new Float32Array(15));
    mem.k.broadcastRow(3, 5, row, dst);
    const src = Array.from(mem.f32(row, 5));
    expect(Array.from(get(mem, dst, 15))).toEqual([...src, ...src, ...src]);
    const m = randn(g, 3 * 7);
    const a = put(mem, m);
    const b = put(mem, new Float32Array(3 * 9));
    mem.k.copyRows(3, 5, a + 4, 7, b + 8, 9); // columns 1..5 of [3, 7] into columns 2..6 of [3, 9]
    const out = get(mem, b, 27);
    expect(columns(out, 3, 9, 2, 5)).toEqual(columns(m, 3, 7, 1, 5));
    expect(columns(out, 3, 9, 0, 2)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(columns(out, 3, 9, 7, 2)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test("permuteRows regroups [P, Q] blocks of rows as [Q, P], and back", () => {
    const mem = new KernelMemory();
    const [P, Q, D] = [4, 3, 5];
    const rows = randn(new Generator(7), P * Q * D);
    const [src, mid, back] = [
      put(mem, rows),
      put(mem, new Float32Array(P * Q * D)),
      put(mem, new Float32Array(P * Q * D)),
    ];
    mem.k.permuteRows(P, Q, D, src, mid);
    const got = get(mem, mid, P * Q * D);
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < Q; q++) {
        expect(Array.from(got.subarray((q * P + p) * D, (q * P + p + 1) * D))).toEqual(
          Array.from(rows.subarray((p * Q + q) * D, (p * Q + q + 1) * D)),
        );
      }
    }
    mem.k.permuteRows(Q, P, D, mid, back);
    expect(Array.from(get(mem, back, P * Q * D))).toEqual(Array.from(rows));
  });
});

describe.each([6, 9])("RNN step, H = %i", (H) => {
  const B = 3;
  const ldo = H + 3; // gradient rows with room between them

  test("rnnForwardStep: h = tanh(A) into the state", () => {
    const mem = new KernelMemory();
    const a = randn(new Generator(2), B * H, 2);
    const [A, hn] = [put(mem, a), put(mem, new Float32Array(B * H))];
    mem.k.rnnForwardStep(B, H, A, hn);
    expectNear(
      get(mem, hn, B * H),
      Array.from(a, (v) => Math.tanh(v)),
      3e-7,
    );
  });

  test("rnnBackwardStep: dA = (dOut_t + dn) (1 - h²)", () => {
    const mem = new KernelMemory();
    const g = new Generator(3);
    const [h, dOut, dn] = [randn(g, B * H, 0.5), randn(g, B * ldo), randn(g, B * H)];
    const dA = put(mem, new Float32Array(B * H));
    mem.k.rnnBackwardStep(B, H, put(mem, h), put(mem, dOut), ldo, put(mem, dn), dA);
    const dOutT = columns(dOut, B, ldo, 0, H);
    const want = Array.from(h, (y, i) => ((dOutT[i] as number) + (dn[i] as number)) * (1 - y * y));
    expectNear(get(mem, dA, B * H), want, 1e-6);
  });
});

/** A GRU step in float64: gates from pre-activations a [B, 3H] (z | r | h̄ with h̄'s hidden product p). */
function gruReference(a: Float32Array, hp: Float32Array, B: number, H: number) {
  const z = columns(a, B, 3 * H, 0, H).map(sigmoid);
  const r = columns(a, B, 3 * H, H, H).map(sigmoid);
  const rh = r.map((v, i) => v * (hp[i] as number));
  return { z, r, rh };
}

describe.each([6, 9])("GRU step, H = %i", (H) => {
  const B = 3;
  const ldo = H + 2;

  test("gruGatesStep then gruForwardStep: σ of z and r in place, r ∘ h, tanh of h̄ in place and the blend", () => {
    const mem = new KernelMemory();
    const g = new Generator(4);
    const [a, hp] = [randn(g, B * 3 * H, 2), randn(g, B * H)];
    const [A, HP, RH] = [put(mem, a), put(mem, hp), put(mem, new Float32Array(B * H))];
    mem.k.gruGatesStep(B, H, A, HP, RH);
    const { z, r, rh } = gruReference(a, hp, B, H);
    const gates = get(mem, A, B * 3 * H);
    expectNear(columns(gates, B, 3 * H, 0, H), z, 2e-7);
    expectNear(columns(gates, B, 3 * H, H, H), r, 2e-7);
    expect(columns(gates, B, 3 * H, 2 * H, H)).toEqual(columns(a, B, 3 * H, 2 * H, H)); // h̄ untouched yet
    expectNear(get(mem, RH, B * H), rh, 1e-6);

    const hn = put(mem, new Float32Array(B * H));
    mem.k.gruForwardStep(B, H, A, HP, hn);
    const c = columns(a, B, 3 * H, 2 * H, H).map(Math.tanh);
    const h = c.map((v, i) => (hp[i] as number) + (z[i] as number) * (v - (hp[i] as number)));
    expectNear(columns(get(mem, A, B * 3 * H), B, 3 * H, 2 * H, H), c, 3e-7);
    expectNear(get(mem, hn, B * H), h, 1e-6);
  });

  test("gruBackwardStep and gruResetBackward: the step's gradients through z, h̄, r and the skip", () => {
    const mem = new KernelMemory();
    const g = new Generator(5);
    // activations as the forward leaves them: z, r in (0, 1), h̄ in (-1, 1)
    const act = randn(g, B * 3 * H).map((v, i) => (i % (3 * H) < 2 * H ? sigmoid(v) : Math.tanh(v)));
    const [hp, dOut, dn0, drh] = [randn(g, B * H), randn(g, B * ldo), randn(g, B * H), randn(g, B * H)];
    const [A, HP, DN, DA] = [put(mem, act), put(mem, hp), put(mem, dn0), put(mem, new Float32Array(B * 3 * H))];
    mem.k.gruBackwardStep(B, H, A, HP, put(mem, dOut), ldo, DN, DA);
    mem.k.gruResetBackward(B, H, A, HP, put(mem, drh), DN, DA);

    const [z, r, c] = [0, 1, 2].map((i) => columns(act, B, 3 * H, i * H, H)) as [number[], number[], number[]];
    const dOutT = columns(dOut, B, ldo, 0, H);
    const dh = dOutT.map((v, i) => v + (dn0[i] as number));
    const at = (v: number[], i: number): number => v[i] as number;
    const dz = dh.map((d, i) => d * (at(c, i) - (hp[i] as number)) * at(z, i) * (1 - at(z, i)));
    const dc = dh.map((d, i) => d * at(z, i) * (1 - at(c, i) ** 2));
    const dr = r.map((v, i) => (drh[i] as number) * (hp[i] as number) * v * (1 - v));
    const dn = dh.map((d, i) => d * (1 - at(z, i)) + (drh[i] as number) * at(r, i));
    const dA = get(mem, DA, B * 3 * H);
    expectNear(columns(dA, B, 3 * H, 0, H), dz, 1e-6);
    expectNear(columns(dA, B, 3 * H, H, H), dr, 1e-6);
    expectNear(columns(dA, B, 3 * H, 2 * H, H), dc, 1e-6);
    expectNear(get(mem, DN, B * H), dn, 1e-6);
  });
});

describe.each(["rnn", "gru"] as const)("the %s recurrence ops at odd sizes", (cell) => {
  test("logits and gradients match tfjs autodiff with E = 5, H = 6, B = 3, T = 7 (a padded line included)", () => {
    const [B, T, V] = [3, 7, 5];
    const model = new Recurrent({ cell, vocabSize: V, blockSize: T, nEmbd: 5, nEmbd2: 6, seed: 3 });
    if (!isOpsModel(model)) throw new Error("not a graph model");
    const params = model.parameters();
    tf.tidy(() => params.forEach((p) => p.assign(tf.randomNormal(p.shape, 0, 0.7, "float32", 11))));
    const g = new Generator(9);
    const X = Int32Array.from({ length: B * T }, () => Math.floor(g.random() * V));
    const Y = X.map((_, i) => (i >= 2 * T + 4 ? -1 : Math.floor(g.random() * V)));
    const net = new GraphNet(model, B);
    net.load();
    net.batchViews().X.set(X);
    net.batchViews().Y.set(Y);
    const loss = net.forwardBackward();
    const want = tf.tidy(() => {
      const [x, y] = [tf.tensor2d(X, [B, T], "int32"), tf.tensor2d(Y, [B, T], "int32")];
      const logits = model.forward(x) as tfjs.Tensor3D;
      const { value, grads } = tf.variableGrads(() => sequenceCrossEntropy(model.forward(x), y), params);
      return {
        logits: logits.dataSync(),
        loss: value.dataSync()[0] as number,
        grads: params.map((p) => grads[p.name]!.dataSync()),
      };
    });
    expectNear(net.logitsView(), want.logits, 1e-5);
    expect(Math.abs(loss - want.loss)).toBeLessThan(1e-5);
    net.gradViews().forEach((d, i) => expectNear(d, want.grads[i] as ArrayLike<number>, 1e-5));
    model.dispose();
  });
});

describe("look-ups", () => {
  test("gatherSum adds w rows per output (and the bias); scatterRows sends each output row back to them", () => {
    const mem = new KernelMemory();
    const g = new Generator(6);
    const [M, w, N, R] = [5, 3, 7, 4];
    const idList = Int32Array.from({ length: M * w }, () => Math.floor(g.random() * R));
    const ids = mem.alloc(M * w);
    mem.i32(ids, M * w).set(idList);
    const [table, bias, dy] = [randn(g, R * N), randn(g, N), randn(g, M * N)];
    const [T, Bs, out] = [put(mem, table), put(mem, bias), put(mem, new Float32Array(M * N))];
    for (const withBias of [true, false]) {
      mem.k.gatherSum(M, w, N, ids, T, withBias ? Bs : 0, out);
      const want = Array.from({ length: M * N }, (_, i) => {
        const [m, j] = [Math.floor(i / N), i % N];
        let s = withBias ? (bias[j] as number) : 0;
        for (let k = 0; k < w; k++) s += table[(idList[m * w + k] as number) * N + j] as number;
        return s;
      });
      expectNear(get(mem, out, M * N), want, 1e-5);
    }
    const dT = put(mem, new Float32Array(R * N).fill(9)); // stale values: scatterRows clears first
    mem.k.scatterRows(M, w, N, R, ids, put(mem, dy), dT);
    const want = new Float64Array(R * N);
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < w; k++) {
        const r = idList[m * w + k] as number;
        for (let j = 0; j < N; j++) want[r * N + j] += dy[m * N + j] as number;
      }
    }
    expectNear(get(mem, dT, R * N), want, 1e-5);
  });

  test("windowIds: the last w tokens of each position, newest first, <BLANK> before the line, place k offset by k·stride", () => {
    const mem = new KernelMemory();
    const [B, T, w, blank, stride] = [2, 4, 3, 9, 10];
    const tokens = mem.alloc(B * T);
    mem.i32(tokens, B * T).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const ids = mem.alloc(B * T * w);
    mem.k.windowIds(B, T, w, blank, stride, tokens, ids);
    const want = (toks: number[]): number[] =>
      toks.flatMap((_, t) => [0, 1, 2].map((k) => (t - k >= 0 ? (toks[t - k] as number) : blank) + k * stride));
    expect(Array.from(mem.i32(ids, B * T * w))).toEqual([...want([1, 2, 3, 4]), ...want([5, 6, 7, 8])]);
  });
});
