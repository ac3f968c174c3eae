/**
 * The SIMD kernels of wasm/kernels.ts, called directly through KernelMemory
 * and checked against plain float64 references (no tfjs involved).
 */
import { spawnSync } from "child_process";
import * as path from "path";
import {
  kernelBuild,
  KernelMemory,
  kernelsAvailable,
  kernelsUnavailableReason,
  runnableBuilds,
  type KernelBuild,
} from "../lib/engines/kernels";
import { Generator } from "../lib/random/generator";

/** Standard normal float32 values from a seeded generator. */
function randn(g: Generator, n: number, scale = 1): Float32Array {
  const a = g.randnArray(n);
  for (let i = 0; i < n; i++) a[i] = (a[i] as number) * scale;
  return a;
}

/** The largest |a[i] - b[i]|. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Whether two int32 arrays (e.g. the bits of float buffers) are equal. */
function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A·B in float64 for A [M, K] and B [K, N], and Σ_k |A(i,k) B(k,j)| of each
 * element (the scale of its rounding error).
 */
function product(
  A: Float32Array,
  B: Float32Array,
  M: number,
  N: number,
  K: number,
): { sum: Float64Array; mag: Float64Array } {
  const sum = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const a = A[i * K + k] as number;
      const row = k * N;
      const out = i * N;
      for (let j = 0; j < N; j++) {
        const t = a * (B[row + j] as number);
        sum[out + j] += t;
        mag[out + j] += t < 0 ? -t : t; // not Math.abs: it is not inlined in jest's sandbox, and this loop is hot
      }
    }
  }
  return { sum, mag };
}

/** The largest |v|. */
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

/** Expects every a[i] within `rel` times max(|b|, floor) of b[i] (a NaN anywhere fails). */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, floor = 1): void {
  const scale = Math.max(maxAbs(b), floor);
  const diff = maxAbsDiff(a, b);
  expect(Number.isNaN(diff)).toBe(false);
  expect(diff).toBeLessThanOrEqual(rel * scale);
}

test("the kernels are built and load", () => {
  expect(kernelsUnavailableReason()).toBeNull();
  expect(kernelsAvailable()).toBe(true);
  expect(runnableBuilds()).toContain("plain");
  // Node 20 runs the relaxed build once the loader sets V8's flag
  expect(runnableBuilds()).toContain("relaxed");
});

describe("which build runs", () => {
  /** What a fresh process reports with MAKEMORE_KERNELS set to `value` (unset for undefined). */
  function loadIn(value: string | undefined): { build: string; reason: string } {
    const env = { ...process.env };
    delete env.MAKEMORE_KERNELS;
    if (value !== undefined) env.MAKEMORE_KERNELS = value;
    const script = `const k = require(${JSON.stringify(path.join(__dirname, "..", "lib", "engines", "kernels"))});
      console.log(JSON.stringify({ build: String(k.kernelBuild()), reason: String(k.kernelsUnavailableReason()) }));`;
    const r = spawnSync(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", script], {
      env,
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout) as { build: string; reason: string };
  }

  test("relaxed where the runtime runs it; MAKEMORE_KERNELS=plain or =relaxed forces one; another value says why", () => {
    expect(loadIn(undefined)).toEqual({ build: "relaxed", reason: "null" });
    expect(loadIn("auto")).toEqual({ build: "relaxed", reason: "null" });
    expect(loadIn("plain")).toEqual({ build: "plain", reason: "null" });
    expect(loadIn("relaxed")).toEqual({ build: "relaxed", reason: "null" });
    expect(loadIn("fast")).toEqual({
      build: "null",
      reason: "MAKEMORE_KERNELS must be plain, relaxed or auto, not 'fast'",
    });
    expect(kernelBuild()).toBe(process.env.MAKEMORE_KERNELS === "plain" ? "plain" : "relaxed");
  }, 60000);
});

describe("KernelMemory", () => {
  test("alloc gives 64-byte aligned, disjoint, zero-filled buffers and grows the memory", () => {
    const mem = new KernelMemory();
    const a = mem.alloc(3);
    const b = mem.alloc(1);
    expect(a % 64).toBe(0);
    expect(b % 64).toBe(0);
    // at least one vector (16 bytes) of room after the last value, for SIMD loops that run past the end
    expect(b - a).toBeGreaterThanOrEqual(3 * 4 + 16);
    for (const count of [1, 4, 15, 16, 17, 100]) {
      const at = mem.alloc(count);
      expect(mem.bytes - at).toBeGreaterThanOrEqual(count * 4 + 16);
    }
    const pages = mem.k.memory.buffer.byteLength / 65536;
    const big = mem.alloc(3 * 65536); // 768 KiB: more pages than the module starts with
    expect(mem.k.memory.buffer.byteLength / 65536).toBeGreaterThan(pages);
    expect(mem.bytes).toBeGreaterThanOrEqual(big + 3 * 65536 * 4);
    expect(mem.bytes).toBeLessThanOrEqual(mem.k.memory.buffer.byteLength);
    const view = mem.f32(big, 3 * 65536);
    expect(maxAbs(view)).toBe(0);
    view[view.length - 1] = 5;
    expect(mem.f32(big, 3 * 65536)[3 * 65536 - 1]).toBe(5);
    // two instances do not share memory
    const other = new KernelMemory();
    const o = other.alloc(4);
    other.f32(o, 4).fill(9);
    const mine = mem.f32(mem.alloc(4), 4);
    expect(Array.from(mine)).toEqual([0, 0, 0, 0]);
  });

  test("zero clears n floats and nothing after them", () => {
    const mem = new KernelMemory();
    const p = mem.alloc(16);
    mem.f32(p, 16).fill(3);
    mem.k.zero(8, p);
    expect(Array.from(mem.f32(p, 16))).toEqual([...Array(8).fill(0), ...Array(8).fill(3)]);
  });
});

describe("gemm", () => {
  const SIZES = [1, 3, 5, 7, 27, 30, 32, 33, 200];
  const MAX = 200;
  const PAD = 3;
  const SENTINEL = -7777.25;
  const mem = new KernelMemory();
  // one set of buffers, big enough for every case (padding and a guard zone after C)
  const aAt = mem.alloc(MAX * (MAX + PAD) + 64);
  const bAt = mem.alloc(MAX * (MAX + PAD) + 64);
  const cAt = mem.alloc(MAX * (MAX + PAD) + 64);
  const biasAt = mem.alloc(MAX + 64);
  // pools of random values the cases take their operands from
  const g = new Generator(11);
  const poolA = randn(g, MAX * MAX);
  const poolB = randn(g, MAX * MAX);
  const poolC = randn(g, MAX * MAX);
  const poolBias = randn(g, MAX);
  let shift = 0;

  interface Case {
    M: number;
    N: number;
    K: number;
    transA: boolean;
    withBias: boolean;
    acc: boolean;
    ldc: number;
  }

  /** Runs one case; returns the largest error relative to Σ|terms| of each element. */
  function runCase({ M, N, K, transA, withBias, acc, ldc }: Case): number {
    // A(i, k): [M, lda] row-major (sar = lda, sac = 1) or [K, lda] holding Aᵀ (sar = 1, sac = lda)
    const lda = (transA ? M : K) + PAD;
    const ldb = N + PAD;
    shift = (shift + 7919) % (MAX * MAX);
    const take = (pool: Float32Array, n: number): Float32Array => {
      const from = shift % (pool.length - n + 1);
      return pool.subarray(from, from + n);
    };
    const Av = take(poolA, M * K);
    const Bv = take(poolB, K * N);
    const biasV = take(poolBias, N);
    const C0 = take(poolC, M * N);
    // NaN in every cell the product must not read (padding columns and past the end)
    const aSize = lda * (transA ? K : M) + 16;
    const bSize = ldb * K + 16;
    const A = mem.f32(aAt, aSize).fill(NaN);
    const B = mem.f32(bAt, bSize).fill(NaN);
    const C = mem.f32(cAt, M * ldc + 64).fill(SENTINEL);
    const bias = mem.f32(biasAt, N + 16).fill(NaN);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) A[transA ? k * lda + i : i * lda + k] = Av[i * K + k] as number;
    }
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) B[k * ldb + j] = Bv[k * N + j] as number;
    if (withBias) bias.set(biasV);
    if (acc) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[i * ldc + j] = C0[i * N + j] as number;
    const aBits = new Int32Array(mem.i32(aAt, aSize));
    const bBits = new Int32Array(mem.i32(bAt, bSize));

    mem.k.gemm(
      M,
      N,
      K,
      aAt,
      transA ? 1 : lda,
      transA ? lda : 1,
      bAt,
      ldb,
      cAt,
      ldc,
      acc ? 1 : 0,
      withBias ? biasAt : 0,
    );

    const out = mem.f32(cAt, M * ldc + 64);
    const ref = product(Av, Bv, M, N, K);
    let worst = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = ref.sum[i * N + j] as number;
        let mag = ref.mag[i * N + j] as number;
        if (withBias) {
          s += biasV[j] as number;
          mag += Math.abs(biasV[j] as number);
        }
        if (acc) {
          s += C0[i * N + j] as number;
          mag += Math.abs(C0[i * N + j] as number);
        }
        const err = Math.abs((out[i * ldc + j] as number) - s) / Math.max(mag, 1e-30);
        worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
      }
    }
    // nothing written outside the M x N region: not in the columns past N, not after the last row
    let stray = 0;
    for (let p = 0; p < M * ldc + 64; p++) {
      const i = Math.floor(p / ldc);
      const j = p % ldc;
      if (i < M && j < N) continue;
      if (out[p] !== SENTINEL) stray++;
    }
    expect(stray).toBe(0);
    // the inputs are left alone (NaN padding included)
    expect(sameInts(mem.i32(aAt, aSize), aBits)).toBe(true);
    expect(sameInts(mem.i32(bAt, bSize), bBits)).toBe(true);
    return worst;
  }

  test("plain A·B matches a float64 triple loop for every shape in {1,3,5,7,27,30,32,33,200}³", () => {
    let worst = 0;
    for (const M of SIZES) {
      for (const N of SIZES) {
        for (const K of SIZES) {
          worst = Math.max(worst, runCase({ M, N, K, transA: false, withBias: false, acc: false, ldc: N }));
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  test.each([
    ["A transposed", { transA: true, withBias: false, acc: false }],
    ["with a bias", { transA: false, withBias: true, acc: false }],
    ["accumulating into C", { transA: false, withBias: false, acc: true }],
    ["transposed A, bias and accumulation together", { transA: true, withBias: true, acc: true }],
  ])("%s, with ldc = N and ldc > N", (_name, flags) => {
    const sizes = [1, 3, 5, 7, 27, 32, 33];
    let worst = 0;
    for (const M of sizes) {
      for (const N of sizes) {
        for (const K of sizes) {
          worst = Math.max(worst, runCase({ M, N, K, ...flags, ldc: N }));
          worst = Math.max(worst, runCase({ M, N, K, ...flags, ldc: N + PAD }));
        }
      }
    }
    // the big sizes once each
    for (const [M, N, K] of [
      [200, 30, 200],
      [30, 200, 33],
      [200, 27, 1],
    ] as const) {
      worst = Math.max(worst, runCase({ M, N, K, ...flags, ldc: N + PAD }));
    }
    expect(worst).toBeLessThan(1e-5);
  });

  test("bias with K = 0 gives the bias in every row (plus C when accumulating)", () => {
    const M = 6;
    const N = 11;
    const bias = mem.f32(biasAt, N);
    bias.set(randn(g, N));
    const biasV = bias.slice();
    mem.f32(cAt, M * N).fill(2);
    mem.k.gemm(M, N, 0, aAt, 1, 1, bAt, N, cAt, N, 1, biasAt);
    const out = mem.f32(cAt, M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) expect(out[i * N + j]).toBe(Math.fround((biasV[j] as number) + 2));
    }
  });
});

/**
 * fround(a·b + c) rounded once, for float32 a, b, c: the product is exact in float64, and the
 * sum's two roundings (to float64, then float32) differ from one rounding only when the float64
 * sum lies exactly halfway between two float32 values, a tie its exact error then breaks.
 */
function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = Math.fround(s);
  const o = 2 * s - r; // the float32 on s's other side, when s is halfway
  if (r === s || Math.fround(o) !== o) return r;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb); // p + c - s, exactly
  if (err === 0) return r;
  return err > 0 === o > r ? o : r;
}

test("fma32 rounds a·b + c once, where rounding to float64 first would land on a tie", () => {
  // 2^25 + 6 is halfway between the float32 values 2^25 + 4 and 2^25 + 8
  const c = Math.fround(2 ** 25 + 4);
  const below = Math.fround(2 - 2 ** -22); // (1 + 2^-23)(2 - 2^-22) = 2 - 2^-45: just under the tie
  expect(fma32(Math.fround(1 + 2 ** -23), below, c)).toBe(2 ** 25 + 4);
  expect(Math.fround(Math.fround(1 + 2 ** -23) * below + c)).toBe(2 ** 25 + 8); // two roundings: to even
  expect(fma32(1, 2, c)).toBe(2 ** 25 + 8); // a true tie goes to even
  expect(fma32(Math.fround(1 + 2 ** -23), Math.fround(2 + 2 ** -22), c)).toBe(2 ** 25 + 8); // just over
  expect(fma32(3, 5, 7)).toBe(22);
});

describe.each(runnableBuilds())("gemm's summation order, %s build", (build: KernelBuild) => {
  const mem = new KernelMemory(build);
  const MAX = 300 * 300;
  const aAt = mem.alloc(MAX + 64);
  const bAt = mem.alloc(MAX + 64);
  const cAt = mem.alloc(MAX + 64);
  const biasAt = mem.alloc(400);
  const g = new Generator(21);

  /**
   * C as gemm must give it, element by element: from the bias (or 0), add
   * a·b for k in order within blocks of 256 (rounding the product, then the
   * sum; or once when fused), then add the C held before (when accumulating,
   * and after every block but the first).
   */
  function sequential(
    A: Float32Array,
    B: Float32Array,
    C0: Float32Array,
    bias: Float32Array | null,
    M: number,
    N: number,
    K: number,
    acc: boolean,
    fused: boolean,
  ): Float32Array {
    const C = new Float32Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let out = acc ? (C0[i * N + j] as number) : 0;
        for (let k0 = 0; k0 === 0 || k0 < K; k0 += 256) {
          let s = k0 === 0 && bias ? (bias[j] as number) : 0;
          for (let k = k0; k < Math.min(K, k0 + 256); k++) {
            const a = A[i * K + k] as number;
            const b = B[k * N + j] as number;
            s = fused ? fma32(a, b, s) : Math.fround(s + Math.fround(a * b));
          }
          out = k0 === 0 && !acc ? s : Math.fround(s + out);
        }
        C[i * N + j] = out;
      }
    }
    return C;
  }

  /** gemm of A [M, K] (stored transposed when transA) and B [K, N] into C [M, N], on rows r0..r1 and columns c0..c1 only. */
  function run(
    A: Float32Array,
    B: Float32Array,
    C0: Float32Array,
    bias: Float32Array | null,
    M: number,
    N: number,
    K: number,
    acc: boolean,
    transA: boolean,
    rows = [0, M],
    cols = [0, N],
  ): Float32Array {
    const a = mem.f32(aAt, M * K);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) a[transA ? k * M + i : i * K + k] = A[i * K + k] as number;
    mem.f32(bAt, K * N).set(B);
    mem.f32(cAt, M * N).set(C0);
    if (bias) mem.f32(biasAt, N).set(bias);
    const [r0, r1] = rows as [number, number];
    const [c0, c1] = cols as [number, number];
    const aRow = aAt + 4 * r0 * (transA ? 1 : K);
    mem.k.gemm(
      r1 - r0,
      c1 - c0,
      K,
      aRow,
      transA ? 1 : K,
      transA ? M : 1,
      bAt + 4 * c0,
      N,
      cAt + 4 * (r0 * N + c0),
      N,
      acc ? 1 : 0,
      bias ? biasAt + 4 * c0 : 0,
    );
    return mem.f32(cAt, M * N).slice();
  }

  test.each([
    [5, 7, 3, false, false, false],
    [33, 27, 64, true, false, false],
    [30, 200, 32, false, true, true],
    [64, 27, 600, false, true, true],
    [17, 40, 257, true, true, false],
    [12, 30, 45, true, true, false], // the last 6 columns in a tile of 8, storing 6
    [8, 9, 0, true, true, false],
  ])(
    "M %i, N %i, K %i (bias %s, acc %s, A transposed %s): the bits of the sequential float32 sum",
    (M, N, K, withBias, acc, transA) => {
      const A = randn(g, M * K);
      const B = randn(g, K * N);
      const C0 = randn(g, M * N);
      const bias = withBias ? randn(g, N) : null;
      const got = new Int32Array(run(A, B, C0, bias, M, N, K, acc, transA).buffer);
      const bits = (fused: boolean) => new Int32Array(sequential(A, B, C0, bias, M, N, K, acc, fused).buffer);
      // relaxed SIMD fuses each multiply-add where the CPU can (FMA), else rounds twice: one or the other throughout
      if (build === "plain" || K === 0) expect(sameInts(got, bits(false))).toBe(true);
      else expect(sameInts(got, bits(true)) !== sameInts(got, bits(false))).toBe(true);
    },
  );

  test("a product split over rows and over columns gives the bits of the whole product", () => {
    const [M, N, K] = [37, 45, 300];
    const A = randn(g, M * K);
    const B = randn(g, K * N);
    const C0 = randn(g, M * N);
    const bias = randn(g, N);
    const whole = run(A, B, C0, bias, M, N, K, true, false);
    let parts = C0;
    for (const rows of [
      [0, 5],
      [5, 22],
      [22, M],
    ])
      parts = run(A, B, parts, bias, M, N, K, true, false, rows);
    expect(sameInts(new Int32Array(parts.buffer), new Int32Array(whole.buffer))).toBe(true);
    parts = C0;
    for (const cols of [
      [0, 13],
      [13, 16],
      [16, N],
    ])
      parts = run(A, B, parts, bias, M, N, K, true, false, [0, M], cols);
    expect(sameInts(new Int32Array(parts.buffer), new Int32Array(whole.buffer))).toBe(true);
  });
});

describe("tanh", () => {
  test("tanhForward matches Math.tanh within 3e-7 over [-20, 20], tiny values, ±0, ±∞ and around 0.3", () => {
    const xs: number[] = [];
    for (let i = 0; i <= 4000; i++) xs.push(-20 + i * 0.01);
    for (const e of [-1, -2, -3, -4, -6, -8, -12, -20, -30, -38, -40, -44]) xs.push(10 ** e, -(10 ** e));
    for (let d = -8; d <= 8; d++) xs.push(0.3 + d * 1e-7, -0.3 - d * 1e-7);
    xs.push(0, -0, 0.2999999, 0.3, 0.3000001, 30, -30, 87, -87, 100, -100, 1e30, -1e30, Infinity, -Infinity);
    while (xs.length % 4) xs.push(0.5);
    const n = xs.length;
    const mem = new KernelMemory();
    const xAt = mem.alloc(n);
    const yAt = mem.alloc(n);
    const x = mem.f32(xAt, n);
    x.set(xs);
    mem.k.tanhForward(n, xAt, yAt);
    const y = mem.f32(yAt, n);
    let worst = 0;
    let worstRelSmall = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number; // the float32 input
      const want = Math.tanh(xi);
      const got = y[i] as number;
      expect(Number.isNaN(got)).toBe(false);
      worst = Math.max(worst, Math.abs(got - want));
      if (xi !== 0 && Math.abs(xi) < 0.3)
        worstRelSmall = Math.max(worstRelSmall, Math.abs(got - want) / Math.abs(want));
      // odd: the sign of the output is the sign of the input
      if (xi !== 0) expect(Math.sign(got)).toBe(Math.sign(xi));
      expect(Math.abs(got)).toBeLessThanOrEqual(1);
    }
    expect(worst).toBeLessThan(3e-7);
    // below the threshold the result is accurate relative to its own size (tiny inputs are not flushed to 0)
    expect(worstRelSmall).toBeLessThan(1e-6);
    const at = (v: number): number => y[xs.indexOf(v)] as number;
    expect(Object.is(at(0), 0)).toBe(true);
    expect(Object.is(y[xs.findIndex((v) => Object.is(v, -0))], -0)).toBe(true);
    expect(at(Infinity)).toBe(1);
    expect(at(-Infinity)).toBe(-1);
    expect(at(1e30)).toBe(1);
  });

  test("tanhForward, tanhBackward and sgdUpdate with n not a multiple of 4 get the first n values right", () => {
    const g = new Generator(12);
    for (const n of [1, 2, 3, 5, 6, 7, 13]) {
      const mem = new KernelMemory();
      const xAt = mem.alloc(n);
      const yAt = mem.alloc(n);
      const dyAt = mem.alloc(n);
      const dxAt = mem.alloc(n);
      const x = randn(g, n, 2);
      const dy = randn(g, n);
      mem.f32(xAt, n).set(x);
      mem.f32(dyAt, n).set(dy);
      mem.k.tanhForward(n, xAt, yAt);
      const y = mem.f32(yAt, n).slice();
      expect(maxAbsDiff(y, Array.from(x, Math.tanh))).toBeLessThan(3e-7);
      mem.k.tanhBackward(n, yAt, dyAt, dxAt);
      expectClose(
        mem.f32(dxAt, n),
        Array.from(y, (v, i) => (dy[i] as number) * (1 - v * v)),
        1e-6,
      );
      // x as parameters, dy as their gradient
      mem.k.sgdUpdate(n, 0.5, dyAt, xAt);
      expectClose(
        mem.f32(xAt, n),
        Array.from(x, (v, i) => v - 0.5 * (dy[i] as number)),
        1e-6,
      );
      // the next buffer is untouched
      expect(Array.from(mem.f32(yAt, n))).toEqual(Array.from(y));
    }
  });

  test("tanhBackward gives dy · (1 - y²)", () => {
    const g = new Generator(5);
    const n = 64;
    const mem = new KernelMemory();
    const yAt = mem.alloc(n);
    const dyAt = mem.alloc(n);
    const dxAt = mem.alloc(n);
    const y = mem.f32(yAt, n);
    for (let i = 0; i < n; i++) y[i] = Math.tanh(3 * (g.random() - 0.5));
    y[0] = 1;
    y[1] = -1;
    y[2] = 0;
    mem.f32(dyAt, n).set(randn(g, n, 2));
    const yv = mem.f32(yAt, n).slice();
    const dy = mem.f32(dyAt, n).slice();
    mem.k.tanhBackward(n, yAt, dyAt, dxAt);
    const want = Array.from(yv, (v, i) => (dy[i] as number) * (1 - v * v));
    expectClose(mem.f32(dxAt, n), want, 1e-6);
    expect(mem.f32(dxAt, n)[0]).toBe(0);
    expect(mem.f32(dxAt, n)[2]).toBe(dy[2]);
  });
});

describe("crossEntropy", () => {
  /** float64 mean cross-entropy and its gradient (softmax - onehot) / M. */
  function reference(M: number, N: number, z: Float32Array, y: Int32Array): { loss: number; dz: number[] } {
    let total = 0;
    const dz: number[] = [];
    for (let i = 0; i < M; i++) {
      const row = Array.from(z.subarray(i * N, (i + 1) * N));
      const mx = Math.max(...row);
      const e = row.map((v) => Math.exp(v - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      const t = y[i] as number;
      total += Math.log(sum) + mx - (row[t] as number);
      e.forEach((v, j) => dz.push((v / sum - (j === t ? 1 : 0)) / M));
    }
    return { loss: total / M, dz };
  }

  function run(M: number, N: number, z: Float32Array, y: Int32Array): { loss: number; dz: Float32Array } {
    const mem = new KernelMemory();
    const zAt = mem.alloc(M * N);
    const yAt = mem.alloc(M);
    const dzAt = mem.alloc(M * N);
    mem.f32(zAt, M * N).set(z);
    mem.i32(yAt, M).set(y);
    mem.f32(dzAt, M * N).fill(NaN);
    const loss = mem.k.crossEntropy(M, N, zAt, yAt, dzAt);
    // the logits are left alone
    expect(Array.from(mem.f32(zAt, M * N))).toEqual(Array.from(z));
    return { loss, dz: mem.f32(dzAt, M * N).slice() };
  }

  test.each([
    [32, 27],
    [5, 3],
    [7, 4],
    [3, 9],
    [1, 1],
    [2, 33],
  ])("loss and gradient of %i rows x %i logits match float64", (M, N) => {
    const g = new Generator(M * 100 + N);
    const z = randn(g, M * N, 3);
    const y = g.randintArray(M, 0, N);
    const got = run(M, N, z, y);
    const want = reference(M, N, z, y);
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(2e-6 * Math.max(1, want.loss));
    expectClose(got.dz, want.dz, 1e-6, 1 / M);
    // each row of the gradient sums to 0
    for (let i = 0; i < M; i++) {
      const s = Array.from(got.dz.subarray(i * N, (i + 1) * N)).reduce((a, b) => a + b, 0);
      expect(Math.abs(s)).toBeLessThan(1e-6);
    }
  });

  test("large logits (±80, ±1000) give finite, exact losses and gradients", () => {
    const M = 4;
    const N = 6;
    const z = new Float32Array([
      ...[80, -80, 0, 1, 2, 3],
      ...[-80, 80, -80, 80, -80, 80],
      ...[1000, -1000, 999, 0, 0, 0],
      ...[-1000, -1000, -1000, -1000, -1000, -999],
    ]);
    const y = new Int32Array([1, 1, 2, 0]);
    const got = run(M, N, z, y);
    const want = reference(M, N, z, y);
    expect(Number.isFinite(got.loss)).toBe(true);
    got.dz.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    // row losses: 160, log 3, 1 + log(1 + e^-1), 1 + log(1 + 5 e^-1)
    expect(want.loss).toBeCloseTo(
      (160 + Math.log(3) + 1 + Math.log(1 + Math.exp(-1)) + 1 + Math.log(1 + 5 * Math.exp(-1))) / 4,
      10,
    );
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-6 * want.loss);
    expectClose(got.dz, want.dz, 1e-6, 1 / M);
  });

  test("a confident correct prediction has loss 0 and gradient 0", () => {
    const z = new Float32Array([100, 0, 0, 0, 0, -100, 0, 100]);
    const got = run(2, 4, z, new Int32Array([0, 3]));
    expect(got.loss).toBe(0);
    got.dz.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-30));
  });
});

describe("batch norm", () => {
  /** float64 reference of the forward and backward pass. */
  function reference(
    M: number,
    N: number,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    dy: Float32Array,
    eps: number,
    divisor: number,
  ) {
    const mean: number[] = [];
    const invStd: number[] = [];
    const uvar: number[] = [];
    const xhat = new Array<number>(M * N).fill(0);
    const y = new Array<number>(M * N).fill(0);
    const dgamma: number[] = [];
    const dbeta: number[] = [];
    const dx = new Array<number>(M * N).fill(0);
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += x[i * N + j] as number;
      const mu = s / M;
      let ss = 0;
      for (let i = 0; i < M; i++) ss += ((x[i * N + j] as number) - mu) ** 2;
      const is = 1 / Math.sqrt(ss / divisor + eps);
      mean.push(mu);
      invStd.push(is);
      uvar.push(ss / (M - 1));
      let sb = 0;
      let sg = 0;
      for (let i = 0; i < M; i++) {
        const p = i * N + j;
        xhat[p] = ((x[p] as number) - mu) * is;
        y[p] = (xhat[p] as number) * (gamma[j] as number) + (beta[j] as number);
        sb += dy[p] as number;
        sg += (dy[p] as number) * (xhat[p] as number);
      }
      dbeta.push(sb);
      dgamma.push(sg);
      for (let i = 0; i < M; i++) {
        const p = i * N + j;
        dx[p] = (gamma[j] as number) * is * ((dy[p] as number) - sb / M - ((xhat[p] as number) * sg) / divisor);
      }
    }
    return { mean, invStd, uvar, xhat, y, dgamma, dbeta, dx };
  }

  test.each([
    [32, 7, "n"],
    [32, 7, "n-1"],
    [5, 12, "n"],
    [5, 12, "n-1"],
    [2, 3, "n"],
    [64, 27, "n-1"],
  ])("bnForward and bnBackward, %i rows x %i columns, variance divided by %s, match float64", (M, N, div) => {
    const g = new Generator(M * 31 + N);
    const eps = 1e-5;
    const divisor = div === "n" ? M : M - 1;
    // columns with an offset and a spread of their own; column 0 nearly constant (its spread is below eps)
    const x = randn(g, M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++)
        x[i * N + j] = (x[i * N + j] as number) * (j === 0 ? 1e-3 : 0.5 + j) + (j === 0 ? 0 : 3 * j - 5);
    }
    const gamma = randn(g, N);
    const beta = randn(g, N);
    const dy = randn(g, M * N);
    const mem = new KernelMemory();
    const at = {
      x: mem.alloc(M * N),
      gamma: mem.alloc(N),
      beta: mem.alloc(N),
      mean: mem.alloc(N),
      invStd: mem.alloc(N),
      uvar: mem.alloc(N),
      xhat: mem.alloc(M * N),
      y: mem.alloc(M * N),
      dy: mem.alloc(M * N),
      dgamma: mem.alloc(N),
      dbeta: mem.alloc(N),
      dx: mem.alloc(M * N),
    };
    mem.f32(at.x, M * N).set(x);
    mem.f32(at.gamma, N).set(gamma);
    mem.f32(at.beta, N).set(beta);
    mem.f32(at.dy, M * N).set(dy);
    mem.k.bnForward(M, N, at.x, at.gamma, at.beta, eps, divisor, at.mean, at.invStd, at.uvar, at.xhat, at.y);
    mem.k.bnBackward(M, N, at.dy, at.xhat, at.gamma, at.invStd, divisor, at.dgamma, at.dbeta, at.dx);
    const want = reference(M, N, x, gamma, beta, dy, eps, divisor);
    const rel = 2e-5;
    want.mean.forEach((m, j) =>
      expect(Math.abs((mem.f32(at.mean, N)[j] as number) - m)).toBeLessThanOrEqual(1e-6 * (Math.abs(m) + 1)),
    );
    want.invStd.forEach((v, j) =>
      expect(Math.abs((mem.f32(at.invStd, N)[j] as number) - v)).toBeLessThanOrEqual(rel * v),
    );
    want.uvar.forEach((v, j) =>
      expect(Math.abs((mem.f32(at.uvar, N)[j] as number) - v)).toBeLessThanOrEqual(rel * v + 1e-12),
    );
    expectClose(mem.f32(at.xhat, M * N), want.xhat, rel);
    expectClose(mem.f32(at.y, M * N), want.y, rel);
    expectClose(mem.f32(at.dbeta, N), want.dbeta, 1e-5);
    expectClose(mem.f32(at.dgamma, N), want.dgamma, rel);
    expectClose(mem.f32(at.dx, M * N), want.dx, rel);
    // the normalized columns have mean 0 and variance divisor-consistent: Σ xhat² = (divisor) · var / (var + eps)
    for (let j = 1; j < N; j++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += mem.f32(at.xhat, M * N)[i * N + j] as number;
      expect(Math.abs(s)).toBeLessThan(1e-4);
    }
  });
});

describe("batch norm in evaluation mode", () => {
  test.each([
    [5, 7, 0],
    [32, 100, 0],
    [3, 27, 1],
    [1, 2, 1],
  ])("bnEval over [%i, %i] (running std: %i) matches a float64 reference", (M, N, isStd) => {
    const g = new Generator(M * 31 + N);
    const x = randn(g, M * N, 3);
    const gamma = randn(g, N);
    const beta = randn(g, N);
    const mean = randn(g, N);
    const running = Float32Array.from(randn(g, N), (v) => 0.5 + Math.abs(v));
    const eps = 1e-5;
    const mem = new KernelMemory();
    const at = { x: mem.alloc(M * N), gamma: mem.alloc(N), beta: mem.alloc(N), mean: mem.alloc(N) };
    const more = { running: mem.alloc(N), scale: mem.alloc(N), shift: mem.alloc(N), y: mem.alloc(M * N) };
    const sentinel = mem.alloc(4);
    mem.f32(sentinel, 4).fill(-7);
    mem.f32(at.x, M * N).set(x);
    mem.f32(at.gamma, N).set(gamma);
    mem.f32(at.beta, N).set(beta);
    mem.f32(at.mean, N).set(mean);
    mem.f32(more.running, N).set(running);
    mem.k.bnEval(M, N, at.x, at.gamma, at.beta, at.mean, more.running, eps, isStd, more.scale, more.shift, more.y);
    const want = new Float64Array(M * N);
    for (let j = 0; j < N; j++) {
      const r = running[j] as number;
      const scale = (gamma[j] as number) / (isStd ? r : Math.sqrt(r + eps));
      for (let i = 0; i < M; i++) {
        want[i * N + j] = ((x[i * N + j] as number) - (mean[j] as number)) * scale + (beta[j] as number);
      }
    }
    expectClose(mem.f32(more.y, M * N), want, 1e-6);
    expect(Array.from(mem.f32(sentinel, 4))).toEqual([-7, -7, -7, -7]);
  });
});

describe("embedding", () => {
  test("embedForward concatenates the looked-up rows; embedBackward accumulates repeated indices", () => {
    const B = 5;
    const T = 3;
    const D = 7;
    const V = 6;
    const g = new Generator(2);
    const table = randn(g, V * D);
    // row 2 looked up five times, row 4 twice in one context, row 5 never
    const ix = new Int32Array([2, 2, 0, 4, 4, 1, 2, 3, 0, 0, 2, 1, 3, 2, 4]);
    const dOut = randn(g, B * T * D);
    const mem = new KernelMemory();
    const ixAt = mem.alloc(B * T);
    const tableAt = mem.alloc(V * D);
    const outAt = mem.alloc(B * T * D);
    const dOutAt = mem.alloc(B * T * D);
    const dTableAt = mem.alloc(V * D);
    mem.i32(ixAt, B * T).set(ix);
    mem.f32(tableAt, V * D).set(table);
    mem.f32(dOutAt, B * T * D).set(dOut);
    mem.f32(dTableAt, V * D).fill(99); // stale values: the kernel zeroes first
    mem.k.embedForward(B, T, D, ixAt, tableAt, outAt);
    mem.k.embedBackward(B * T, D, D, V, ixAt, dOutAt, dTableAt);
    const out = mem.f32(outAt, B * T * D);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = ix[b * T + t] as number;
        for (let d = 0; d < D; d++) expect(out[b * T * D + t * D + d]).toBe(table[row * D + d]);
      }
    }
    const want = new Array<number>(V * D).fill(0);
    for (let k = 0; k < B * T; k++) {
      for (let d = 0; d < D; d++) want[(ix[k] as number) * D + d] += dOut[k * D + d] as number;
    }
    const dTable = mem.f32(dTableAt, V * D);
    expectClose(dTable, want, 1e-6);
    expect(Array.from(dTable.subarray(5 * D, 6 * D))).toEqual(Array(D).fill(0));
    // row 2 collects five rows of dOut
    let s = 0;
    for (const k of [0, 1, 6, 10, 13]) s += dOut[k * D] as number;
    expect(dTable[2 * D] as number).toBeCloseTo(s, 5);
  });
});

describe("small kernels", () => {
  test("colSum sums the rows (in blocks of 256), replacing or adding to out", () => {
    const g = new Generator(3);
    for (const [M, N] of [
      [1, 1],
      [4, 7],
      [9, 8],
      [33, 27],
      [600, 9], // three blocks of rows (256, 256, 88)
    ] as const) {
      const x = randn(g, M * N);
      const start = randn(g, N);
      const mem = new KernelMemory();
      const xAt = mem.alloc(M * N);
      const outAt = mem.alloc(N + 16);
      mem.f32(xAt, M * N).set(x);
      const sums = Array.from({ length: N }, (_, j) => {
        let s = 0;
        for (let i = 0; i < M; i++) s += x[i * N + j] as number;
        return s;
      });
      const out = (): Float32Array => mem.f32(outAt, N + 16);
      out().fill(-1);
      out().set(start);
      mem.k.colSum(M, N, xAt, N, outAt, 0);
      expectClose(out().subarray(0, N), sums, 1e-6);
      expect(Array.from(out().subarray(N))).toEqual(Array(16).fill(-1));
      out().set(start);
      mem.k.colSum(M, N, xAt, N, outAt, 1);
      expectClose(
        out().subarray(0, N),
        sums.map((s, j) => s + (start[j] as number)),
        1e-6,
      );
      expect(Array.from(out().subarray(N))).toEqual(Array(16).fill(-1));
    }
  });

  test("transpose", () => {
    const g = new Generator(4);
    for (const [rows, cols] of [
      [1, 5],
      [3, 1],
      [4, 4],
      [5, 8],
      [8, 5],
      [7, 13],
      [32, 27],
      [16, 4],
      [37, 45], // blocks of 16 rows, then of 4, then single rows and columns
      [130, 64],
    ] as const) {
      const src = randn(g, rows * cols);
      const mem = new KernelMemory();
      const sAt = mem.alloc(rows * cols);
      const dAt = mem.alloc(rows * cols);
      mem.f32(sAt, rows * cols).set(src);
      mem.k.transpose(rows, cols, sAt, cols, dAt, rows);
      const dst = mem.f32(dAt, rows * cols);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) expect(dst[j * rows + i]).toBe(src[i * cols + j]);
      }
    }
  });

  test("sgdUpdate: p -= lr · g, in float32, over exactly n values", () => {
    const g = new Generator(6);
    const n = 40;
    const p0 = randn(g, n);
    const grad = randn(g, n);
    const mem = new KernelMemory();
    const pAt = mem.alloc(n + 8);
    const gAt = mem.alloc(n);
    mem.f32(pAt, n + 8).fill(7);
    mem.f32(pAt, n).set(p0);
    mem.f32(gAt, n).set(grad);
    const lr = 0.1;
    mem.k.sgdUpdate(n, lr, gAt, pAt);
    const lr32 = Math.fround(lr);
    const want = Array.from(p0, (v, i) => Math.fround(v - Math.fround(lr32 * (grad[i] as number))));
    expect(Array.from(mem.f32(pAt, n))).toEqual(want);
    expect(Array.from(mem.f32(pAt + n * 4, 8))).toEqual(Array(8).fill(7));
    mem.k.sgdUpdate(n, 0, gAt, pAt);
    expect(Array.from(mem.f32(pAt, n))).toEqual(want);
  });

  test("blend moves running values towards the batch; sqrtEps", () => {
    const n = 11;
    const g = new Generator(8);
    const value = randn(g, n);
    const running = randn(g, n);
    const mem = new KernelMemory();
    const vAt = mem.alloc(n);
    const rAt = mem.alloc(n + 4);
    const oAt = mem.alloc(n + 4);
    mem.f32(vAt, n).set(value);
    mem.f32(rAt, n + 4).fill(-3);
    mem.f32(rAt, n).set(running);
    const m = 0.1;
    mem.k.blend(n, m, vAt, rAt);
    expectClose(
      mem.f32(rAt, n),
      Array.from(running, (r, i) => (1 - m) * r + m * (value[i] as number)),
      1e-6,
    );
    expect(Array.from(mem.f32(rAt + n * 4, 4))).toEqual([-3, -3, -3, -3]);
    // momentum 0 keeps, 1 replaces
    const before = mem.f32(rAt, n).slice();
    mem.k.blend(n, 0, vAt, rAt);
    expect(Array.from(mem.f32(rAt, n))).toEqual(Array.from(before));
    mem.k.blend(n, 1, vAt, rAt);
    expect(Array.from(mem.f32(rAt, n))).toEqual(Array.from(value));

    const v = Float32Array.from(value, (x) => x * x);
    v[0] = 0;
    mem.f32(vAt, n).set(v);
    mem.f32(oAt, n + 4).fill(-3);
    mem.k.sqrtEps(n, vAt, 1e-5, oAt);
    expectClose(
      mem.f32(oAt, n),
      Array.from(v, (x) => Math.sqrt(x + 1e-5)),
      1e-6,
    );
    expect(mem.f32(oAt, 1)[0] as number).toBeCloseTo(Math.sqrt(1e-5), 9);
    expect(Array.from(mem.f32(oAt + n * 4, 4))).toEqual([-3, -3, -3, -3]);
  });
});
