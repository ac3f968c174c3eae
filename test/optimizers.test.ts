import { readFileSync } from "fs";
import { join } from "path";
import {
  AdamW,
  makeOptimizer,
  OPTIMIZER_KINDS,
  parseOptimizerKind,
  SGD,
  type Optimizer,
  type OptimizerKind,
  type OptimizerOptions,
} from "../lib/optim/optimizers";

/** test/fixtures/adamw.json as scripts/fixtures/adamw.py writes it (arrays as base64 float32). */
interface Fixture {
  torch: string;
  shapes: number[][];
  initial: string[];
  grads: string[][];
  runs: {
    name: string;
    kind: OptimizerKind;
    options: OptimizerOptions;
    lrs: number[];
    params: string[][];
  }[];
}

const fixture = JSON.parse(readFileSync(join(__dirname, "fixtures", "adamw.json"), "utf8")) as Fixture;

/** Little-endian float32 bytes in base64, read the same on any machine. */
function decode(b64: string): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

const initial = (): Float32Array[] => fixture.initial.map(decode);
const gradsAt = (step: number): Float32Array[] => (fixture.grads[step] as string[]).map(decode);

function runOf(name: string): Fixture["runs"][number] {
  const run = fixture.runs.find((r) => r.name === name);
  if (!run) throw new Error(`no run "${name}" in the fixture`);
  return run;
}

/** Largest |a - b| / max(|b|, 1e-3): relative, and absolute (scaled by 1e-3) near 0. */
function worstRelative(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  b.forEach((w, j) => {
    worst = Math.max(worst, Math.abs((a[j] as number) - w) / Math.max(Math.abs(w), 1e-3));
  });
  return worst;
}

/** Steps `optimizer` through the fixture's gradients at `lrs`; calls back with the params after each step. */
function replay(
  optimizer: Optimizer,
  lrs: readonly number[],
  after: (params: Float32Array[], step: number) => void,
  params = initial(),
): Float32Array[] {
  lrs.forEach((lr, step) => {
    optimizer.update(params, gradsAt(step), lr);
    after(params, step);
  });
  return params;
}

describe("the fixture", () => {
  test("holds PyTorch 1.13's runs over 3 parameters", () => {
    expect(fixture.torch).toMatch(/^1\.13/);
    expect(fixture.shapes).toEqual([[27, 10], [30, 7], [5]]);
    expect(initial().map((p) => p.length)).toEqual([270, 210, 5]);
    expect(fixture.grads).toHaveLength(10);
  });
});

describe.each(["makemore.py's AdamW", "AdamW with default betas and a step decay of the rate"])("%s", (name) => {
  const run = runOf(name);

  test("every step's params match torch.optim.AdamW to 1e-6, and in fact bit for bit", () => {
    const optimizer = makeOptimizer("adamw", run.options);
    let worst = 0;
    let differing = 0;
    replay(optimizer, run.lrs, (params, step) => {
      const want = (run.params[step] as string[]).map(decode);
      params.forEach((p, i) => {
        const w = want[i] as Float32Array;
        worst = Math.max(worst, worstRelative(p, w));
        differing += p.filter((x, j) => x !== w[j]).length;
      });
    });
    expect(optimizer.steps).toBe(run.lrs.length);
    expect(worst).toBeLessThanOrEqual(1e-6);
    // the fused multiply-adds of torch's kernels are mirrored, so not one float differs
    expect(differing).toBe(0);
  });
});

describe("SGD", () => {
  test("is p -= lr·g in two float32 roundings, exactly as torch's float32 kernels do it", () => {
    const run = runOf("SGD as a float32 kernel");
    replay(new SGD(), run.lrs, (params, step) => {
      expect(params).toEqual((run.params[step] as string[]).map(decode));
    });
  });

  test("differs from torch.optim.SGD, which fuses the multiply-add, by one rounding of lr·g at most", () => {
    const run = runOf("torch.optim.SGD");
    let worst = 0;
    let differing = 0;
    // SGD has no state, so each step starts from torch's params to keep the roundings from adding up
    let params = initial();
    run.lrs.forEach((lr, step) => {
      const grads = gradsAt(step);
      new SGD().update(params, grads, lr);
      const want = (run.params[step] as string[]).map(decode);
      params.forEach((p, i) => {
        const g = grads[i] as Float32Array;
        (want[i] as Float32Array).forEach((w, j) => {
          // fused: one rounding of w; ours: a rounding of lr·g, then one of w; an ulp of x is at most 2^-23·|x|
          const ulp = 2 ** -23 * Math.max(Math.abs(w), Math.abs(lr * (g[j] as number)));
          worst = Math.max(worst, Math.abs((p[j] as number) - w) / ulp);
          if (p[j] !== w) differing++;
        });
      });
      params = want;
    });
    expect(worst).toBeLessThanOrEqual(1.5);
    // a tenth of the values differ: the two are not the same arithmetic
    expect(differing).toBeGreaterThan(0);
  });

  test("weight decay scales p by (1 - lr·wd) before the step", () => {
    const p = [new Float32Array([2, -4])];
    new SGD({ weightDecay: 0.5 }).update(p, [new Float32Array([1, 0])], 0.25);
    // 2·(1 - 0.125) - 0.25 = 1.5; -4·0.875 = -3.5
    expect(Array.from(p[0] as Float32Array)).toEqual([1.5, -3.5]);
  });
});

describe("optimizer state", () => {
  const run = runOf("makemore.py's AdamW");
  const want = (step: number): Float32Array[] => (run.params[step] as string[]).map(decode);

  test("belongs to each instance: a second AdamW starts fresh", () => {
    const a = makeOptimizer("adamw", run.options);
    const b = makeOptimizer("adamw", run.options);
    replay(a, run.lrs.slice(0, 3), () => undefined);
    const params = initial();
    b.update(params, gradsAt(0), run.lrs[0] as number);
    expect(b.steps).toBe(1);
    expect(a.steps).toBe(3);
    expect(params).toEqual(want(0));
  });

  test("reset() forgets the moments and restarts the bias correction", () => {
    const optimizer = makeOptimizer("adamw", run.options);
    replay(optimizer, run.lrs.slice(0, 4), () => undefined);
    optimizer.reset();
    expect(optimizer.steps).toBe(0);
    replay(optimizer, run.lrs, (params, step) => expect(params).toEqual(want(step)));
  });

  test("reset() also forgets the layout, so other arrays may follow", () => {
    const optimizer = new AdamW();
    optimizer.update([new Float32Array(3)], [new Float32Array(3)], 0.1);
    optimizer.reset();
    expect(() => optimizer.update([new Float32Array(2)], [new Float32Array(2)], 0.1)).not.toThrow();
  });

  test("update changes only the viewed range of a larger buffer, as with WebAssembly memory", () => {
    const heap = new Float32Array(12).fill(7);
    const p = heap.subarray(4, 8);
    const g = new Float32Array([1, -1, 0.5, 0]);
    makeOptimizer("adamw").update([p], [g], 0.1);
    expect(Array.from(heap.subarray(0, 4))).toEqual([7, 7, 7, 7]);
    expect(Array.from(heap.subarray(8))).toEqual([7, 7, 7, 7]);
    // the first step of Adam moves each value by about lr·sign(g)
    expect(p[0]).toBeCloseTo(7 * (1 - 0.1 * 0.01) - 0.1, 5);
    expect(p[3]).toBeCloseTo(7 * (1 - 0.1 * 0.01), 5);
  });
});

/** Adam (Kingma & Ba, with torch's placement of eps) in float64, written from the paper. */
function referenceAdam(
  params: Float64Array[],
  steps: Float64Array[][],
  lr: number,
  [b1, b2]: readonly [number, number],
  eps: number,
): Float64Array[] {
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  steps.forEach((grads, s) => {
    const t = s + 1;
    params.forEach((p, i) => {
      const [mi, vi, gi] = [m[i] as Float64Array, v[i] as Float64Array, grads[i] as Float64Array];
      p.forEach((_, j) => {
        const g = gi[j] as number;
        mi[j] = b1 * (mi[j] as number) + (1 - b1) * g;
        vi[j] = b2 * (vi[j] as number) + (1 - b2) * g * g;
        const mHat = (mi[j] as number) / (1 - b1 ** t);
        const vHat = (vi[j] as number) / (1 - b2 ** t);
        p[j] = (p[j] as number) - (lr * mHat) / (Math.sqrt(vHat) + eps);
      });
    });
  });
  return params;
}

test("AdamW with weightDecay 0 is Adam", () => {
  const betas = [0.9, 0.99] as const;
  const lr = 3e-3;
  const adamw = makeOptimizer("adamw", { weightDecay: 0, betas });
  const params = replay(adamw, Array<number>(6).fill(lr), () => undefined);
  const grads = Array.from({ length: 6 }, (_, s) => gradsAt(s).map((g) => Float64Array.from(g)));
  const want = referenceAdam(
    initial().map((p) => Float64Array.from(p)),
    grads,
    lr,
    betas,
    1e-8,
  );
  params.forEach((p, i) => expect(worstRelative(p, Float32Array.from(want[i] as Float64Array))).toBeLessThan(1e-6));
});

describe("errors are one clear line", () => {
  const oneLine = (f: () => unknown, text: string | RegExp): void => {
    expect(f).toThrow(RangeError);
    expect(f).toThrow(text);
    try {
      f();
    } catch (e) {
      expect((e as Error).message).not.toContain("\n");
    }
  };
  const some = (n: number): Float32Array[] => [new Float32Array(n)];

  test("for an unknown kind", () => {
    oneLine(() => makeOptimizer("adam" as OptimizerKind), 'unknown optimizer "adam": expected one of sgd, adamw');
    oneLine(() => parseOptimizerKind("rmsprop"), 'unknown optimizer "rmsprop": expected one of sgd, adamw');
  });

  test("for an option out of range", () => {
    oneLine(() => makeOptimizer("adamw", { weightDecay: -0.1 }), "weightDecay must be a finite number >= 0, got -0.1");
    oneLine(() => makeOptimizer("sgd", { weightDecay: NaN }), "weightDecay must be");
    oneLine(() => makeOptimizer("adamw", { betas: [0.9, 1] }), "betas must be two numbers in [0, 1), got [0.9, 1]");
    oneLine(() => makeOptimizer("adamw", { betas: [-0.1, 0.9] }), "betas must be");
    oneLine(() => makeOptimizer("adamw", { eps: 0 }), "eps must be a finite number > 0, got 0");
    oneLine(() => new AdamW({ eps: Infinity }), "eps must be");
  });

  test("for a bad learning rate or arrays that do not match", () => {
    const optimizer = makeOptimizer("adamw");
    oneLine(() => optimizer.update(some(2), some(2), -1), "adamw.update: lr must be a finite number >= 0, got -1");
    oneLine(() => optimizer.update(some(2), some(2), NaN), "lr must be");
    oneLine(() => optimizer.update(some(2), [], 0.1), "adamw.update: 1 params but 0 grads");
    oneLine(() => optimizer.update(some(2), some(3), 0.1), "adamw.update: params[0] has 2 values, grads[0] 3");
    // refused calls leave no state behind: the layout is set by the first update that succeeds
    expect(optimizer.steps).toBe(0);
    optimizer.update(some(2), some(2), 0.1);
    oneLine(() => optimizer.update(some(3), some(3), 0.1), "params[0] has 3 values, but had 2 at the first update");
    oneLine(() => optimizer.update([...some(2), ...some(2)], [...some(2), ...some(2)], 0.1), "2 params, but the first");
    expect(optimizer.steps).toBe(1);
    oneLine(() => new SGD().update(some(1), some(1), Infinity), "sgd.update: lr must be");
  });
});

test("kinds are listed, parsed and made", () => {
  expect(OPTIMIZER_KINDS).toEqual(["sgd", "adamw"]);
  expect(parseOptimizerKind("adamw")).toBe("adamw");
  expect(parseOptimizerKind(" SGD ")).toBe("sgd");
  for (const kind of OPTIMIZER_KINDS) expect(makeOptimizer(kind).kind).toBe(kind);
  expect(makeOptimizer("sgd")).toBeInstanceOf(SGD);
  expect(makeOptimizer("adamw")).toBeInstanceOf(AdamW);
});
