import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Generator } from "../lib/random/generator";
import { lectureSplit, PythonRandom } from "../lib/random/python";
import { RandomSource, TorchGenerator } from "../lib/random/torch";

/** Fails to compile when Generator gains a public method that RandomSource lacks. */
const everyGeneratorMethod: Record<Exclude<keyof Generator, keyof RandomSource>, never> = {};

/** The shapes of test/fixtures/torch-random.json (written by scripts/fixtures/torch_random.py). */
interface FloatRecord {
  values?: number[];
  count?: number;
  head?: number[];
  tail?: number[];
  sum?: number;
  sha256?: string;
}
interface IntRecord {
  values: number[];
}
interface StepArgs {
  shape?: number[];
  dtype?: string;
  low?: number;
  high?: number;
  n?: number;
  probs?: number[];
  replacement?: boolean;
}
interface Step {
  op: "rand" | "randn" | "randint" | "randperm" | "multinomial";
  args: StepArgs;
  result: FloatRecord & Partial<IntRecord>;
}
interface Fixture {
  torch: string;
  cpuCapability: string;
  cases: { seed: number; steps: Step[] }[];
  mlpInit: {
    seed: number;
    tensors: (FloatRecord & { shape: number[] })[];
    randint: { low: number; high: number; batches: number[][] };
  };
  lecture1: { example: { p: number[]; samples: number[] }; samples: string[] };
  python: {
    version: string;
    seeds: {
      seed: string;
      random: number[];
      getrandbits: Record<string, string>;
      randbelow: number[];
      shuffle50: number[];
    }[];
  };
  lecture3Split: {
    n1: number;
    n2: number;
    examples: { train: number; val: number; test: number };
    shuffledSha256: string;
  };
}

const ROOT = path.resolve(__dirname, "..");
const fixture = JSON.parse(
  fs.readFileSync(path.join(ROOT, "test", "fixtures", "torch-random.json"), "utf8"),
) as Fixture;
const NAMES = path.join(ROOT, "data", "names.txt");

function readNames(): string[] {
  if (!fs.existsSync(NAMES)) throw new Error(`${NAMES} is missing: run \`npm run setup\` first`);
  return fs
    .readFileSync(NAMES, "utf8")
    .split("\n")
    .filter((line) => line.length > 0);
}

/** The float32 bit patterns of a list of values, as printable hex. */
function float32Bits(values: ArrayLike<number>): string[] {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  return Array.from(bits, (b) => b.toString(16).padStart(8, "0"));
}

function littleEndianSha256(values: Float32Array): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return createHash("sha256").update(new Uint8Array(view.buffer)).digest("hex");
}

/** Expects `got` to equal the recorded float32 values bit for bit (or their summary, for long tensors). */
function expectFloat32(got: Float32Array, want: FloatRecord): void {
  if (want.values) {
    expect(float32Bits(got)).toEqual(float32Bits(want.values));
    return;
  }
  expect(got.length).toBe(want.count);
  expect(float32Bits(got.subarray(0, 8))).toEqual(float32Bits(want.head ?? []));
  expect(float32Bits(got.subarray(got.length - 8))).toEqual(float32Bits(want.tail ?? []));
  expect(littleEndianSha256(got)).toBe(want.sha256);
}

function elements(shape: number[] | undefined): number {
  return (shape ?? []).reduce((a, b) => a * b, 1);
}

/** Performs one recorded call on `g` and checks its result. */
function checkStep(g: TorchGenerator, step: Step): void {
  const { args, result } = step;
  switch (step.op) {
    case "rand":
      if (args.dtype === "float64") {
        const got = Array.from({ length: elements(args.shape) }, () => g.random());
        expect(got).toEqual(result.values);
      } else {
        expectFloat32(g.rand(elements(args.shape)), result);
      }
      return;
    case "randn":
      expectFloat32(g.randn(elements(args.shape)), result);
      return;
    case "randint": {
      const [n, low, high] = [args.n ?? 0, args.low ?? 0, args.high ?? 0];
      // ranges past Int32Array's go through single draws (PyTorch takes two words each there)
      const got = low >= -(2 ** 31) && high <= 2 ** 31 ? Array.from(g.randintArray(n, low, high)) : [];
      while (got.length < n) got.push(g.randint(low, high));
      expect(got).toEqual(result.values);
      return;
    }
    case "randperm":
      expect(Array.from(g.randperm(args.n ?? 0))).toEqual(result.values);
      return;
    case "multinomial":
      expect(Array.from(g.multinomial(args.probs ?? [], args.n ?? 0, args.replacement))).toEqual(result.values);
      return;
  }
}

function describeStep(step: Step): string {
  const { shape, dtype, low, high, n, replacement } = step.args;
  if (step.op === "randint") return `randint(${low}, ${high}, (${n},))`;
  if (step.op === "randperm") return `randperm(${n})`;
  if (step.op === "multinomial") return `multinomial(p, ${n}, replacement=${replacement})`;
  return `${step.op}(${shape?.join(", ")}${dtype ? `, dtype=${dtype}` : ""})`;
}

describe(`TorchGenerator reproduces torch ${fixture.torch} (${fixture.cpuCapability}) bit for bit`, () => {
  const single = fixture.cases.filter((c) => c.steps.length === 1);
  test.each(single.map((c) => [describeStep(c.steps[0] as Step), c.seed, c] as const))(
    "%s from seed %d",
    (_name, seed, c) => {
      checkStep(new TorchGenerator(seed), c.steps[0] as Step);
    },
  );

  const sequences = fixture.cases.filter((c) => c.steps.length > 1);
  test.each(sequences.map((c) => [c.seed, c] as const))(
    "seed %d: many calls on one generator, each taking PyTorch's share of the stream",
    (seed, c) => {
      const g = new TorchGenerator(seed);
      for (const step of c.steps) checkStep(g, step);
    },
  );

  test("lecture 3's MLP parameters and minibatch indices, drawn from one generator", () => {
    const { seed, tensors, randint } = fixture.mlpInit;
    const g = new TorchGenerator(seed);
    for (const t of tensors) expectFloat32(g.randn(elements(t.shape)), t);
    for (const batch of randint.batches) {
      expect(Array.from({ length: batch.length }, () => g.randint(randint.low, randint.high))).toEqual(batch);
    }
  });

  test("a single draw, randn() and multinomial(p), advances the stream as its tensor form does", () => {
    const a = new TorchGenerator(7);
    const b = new TorchGenerator(7);
    expect(float32Bits(Array.from({ length: 5 }, () => a.randn()))).toEqual(float32Bits(b.randn(5)));
    const p = [0.1, 0.6, 0.3];
    const single = Array.from({ length: 4 }, () => a.multinomial(p));
    expect(single).toEqual(Array.from({ length: 4 }, () => b.multinomial(p, 1, true)[0]));
  });

  test("manualSeed restarts the stream and drops the cached normal", () => {
    const g = new TorchGenerator(3);
    const first = g.randn(3);
    g.manualSeed(3);
    expect(float32Bits(g.randn(3))).toEqual(float32Bits(first));
    expect(g.initialSeed()).toBe(3n);
    expect(new TorchGenerator(-5).initialSeed()).toBe(2n ** 64n - 5n);
  });
});

describe("lecture 1 with TorchGenerator", () => {
  test("the 3-outcome example: p = rand(3) normalised, then 100 samples with replacement", () => {
    const g = new TorchGenerator(2147483647);
    const raw = g.rand(3);
    const total = Math.fround(Math.fround((raw[0] as number) + (raw[1] as number)) + (raw[2] as number));
    const p = raw.map((v) => v / total);
    expect(float32Bits(p)).toEqual(float32Bits(fixture.lecture1.example.p));
    expect(Array.from(g.multinomial(p, 100, true))).toEqual(fixture.lecture1.example.samples);
  });

  test("five names sampled from the smoothed bigram table are the lecture's", () => {
    const names = readNames();
    const chars = [...new Set(names.join(""))].sort();
    const itos = [".", ...chars];
    const stoi = new Map(itos.map((c, i) => [c, i]));
    // N + 1 as float32 rows (index 0 is the '.' boundary), each divided by its sum as P /= P.sum(1)
    const counts = Array.from({ length: itos.length }, () => new Float32Array(itos.length).fill(1));
    for (const name of names) {
      const ids = Array.from(`.${name}.`, (c) => stoi.get(c) as number);
      for (let i = 0; i + 1 < ids.length; i++) (counts[ids[i] as number] as Float32Array)[ids[i + 1] as number] += 1;
    }
    const P = counts.map((row) => {
      const sum = row.reduce((a, b) => a + b, 0); // exact: whole numbers below 2^24
      return row.map((v) => v / sum); // a Float32Array rounds each quotient as torch does
    });
    const g = new TorchGenerator(2147483647);
    const samples: string[] = [];
    for (let k = 0; k < 5; k++) {
      let out = "";
      let ix = 0;
      do {
        ix = g.multinomial(P[ix] as Float32Array);
        out += itos[ix];
      } while (ix !== 0);
      samples.push(out);
    }
    expect(samples).toEqual(fixture.lecture1.samples);
    expect(samples).toEqual(["mor.", "axx.", "minaymoryles.", "kondlaisah.", "anchshizarie."]);
  });
});

describe(`PythonRandom reproduces CPython ${fixture.python.version}'s random`, () => {
  test.each(fixture.python.seeds.map((s) => [s.seed, s] as const))(
    "seed %s: random(), getrandbits, _randbelow and shuffle in sequence",
    (seed, rec) => {
      const r = new PythonRandom(BigInt(seed));
      expect(Array.from({ length: rec.random.length }, () => r.random())).toEqual(rec.random);
      for (const [k, want] of Object.entries(rec.getrandbits)) {
        const bits = Number(k);
        expect(String(bits <= 53 ? r.getrandbits(bits) : r.getrandbitsBig(bits))).toBe(want);
      }
      const limits = [1, 2, 3, 10, 1000, 2 ** 31 + 1, 2 ** 40 + 3];
      expect(limits.map((n) => r.randbelow(n))).toEqual(rec.randbelow);
      expect(r.shuffle(Array.from({ length: 50 }, (_, i) => i))).toEqual(rec.shuffle50);
    },
  );

  test("getrandbits and getrandbitsBig agree, and k = 0 draws nothing", () => {
    const a = new PythonRandom(9);
    const b = new PythonRandom(9);
    expect(a.getrandbits(0)).toBe(0);
    expect(BigInt(a.getrandbits(45))).toBe(b.getrandbitsBig(45));
    expect(a.random()).toBe(b.random());
  });

  test("lecture 3's split of the names: random.seed(42), shuffle, 80/10/10", () => {
    const words = readNames();
    const { train, val, test: testSet } = lectureSplit(words);
    const want = fixture.lecture3Split;
    expect([train.length, train.length + val.length]).toEqual([want.n1, want.n2]);
    const examples = (ws: string[]): number => ws.reduce((n, w) => n + w.length + 1, 0);
    expect({ train: examples(train), val: examples(val), test: examples(testSet) }).toEqual(want.examples);
    expect(want.examples).toEqual({ train: 182625, val: 22655, test: 22866 });
    const order = createHash("sha256")
      .update([...train, ...val, ...testSet].join("\n"))
      .digest("hex");
    expect(order).toBe(want.shuffledSha256);
    expect(words.length).toBe(32033); // the input list is left as it was
  });
});

describe("TorchGenerator stands in for the lib's Generator", () => {
  test("both generators are RandomSources, and TorchGenerator's methods behave as Generator's do", () => {
    expect(everyGeneratorMethod).toEqual({});
    const lib: RandomSource = new Generator(1);
    expect(lib.manualSeed(2)).toBe(lib);
    const g: RandomSource = new TorchGenerator(1);
    expect(g.manualSeed(2)).toBe(g);
    expect(g.nextUint32()).toBeLessThan(2 ** 32);
    expect(g.random()).toBeLessThan(1);
    expect(g.randint(3, 4)).toBe(3);
    expect(g.randintArray(4, 0, 2)).toHaveLength(4);
    expect(typeof g.randn()).toBe("number");
    expect(g.randnArray(20)).toHaveLength(20);
    expect(g.multinomial([0, 0, 5])).toBe(2);
    expect(g.shuffle([1, 2, 3]).sort()).toEqual([1, 2, 3]);
  });
});

describe("clear errors", () => {
  test("seeds must be finite integers", () => {
    expect(() => new TorchGenerator(NaN)).toThrow("seed must be a finite number, got NaN");
    expect(() => new TorchGenerator(1).manualSeed(Infinity)).toThrow(/finite number/);
    expect(() => new TorchGenerator(1.5)).toThrow("seed must be an integer, got 1.5");
    expect(() => new TorchGenerator(2n ** 64n)).toThrow(/\[-2\^63, 2\^64\)/);
    expect(() => new PythonRandom(NaN)).toThrow("seed must be a finite number, got NaN");
    expect(() => new PythonRandom(0.5)).toThrow(/must be an integer/);
  });

  test("randint needs a non-empty integer range", () => {
    const g = new TorchGenerator(1);
    expect(() => g.randint(5, 5)).toThrow("randint needs low < high, got an empty range [5, 5)");
    expect(() => g.randint(5, 2)).toThrow(/empty range/);
    expect(() => g.randint(0.5, 2)).toThrow(/integer bounds/);
    expect(() => g.randintArray(2, 0, 2 ** 32)).toThrow(/Int32Array/);
    expect(() => g.rand(-1)).toThrow("rand needs a count >= 0, got -1");
  });

  test("multinomial rejects negative, non-finite and all-zero weights", () => {
    const g = new TorchGenerator(1);
    expect(() => g.multinomial([0.5, -0.1])).toThrow(
      "multinomial weights must be finite (in float32) and non-negative, got -0.1 at index 1",
    );
    expect(() => g.multinomial([NaN, 1])).toThrow(/non-negative, got NaN at index 0/);
    expect(() => g.multinomial([1, Infinity], 2, true)).toThrow(/finite/);
    expect(() => g.multinomial([1, 1e39])).toThrow(/got 1e\+39 at index 1/);
    expect(() => g.multinomial([0, 0, 0])).toThrow("multinomial weights must not all be zero (in float32)");
    expect(() => g.multinomial([])).toThrow("multinomial needs at least one weight");
    expect(() => g.multinomial([1, 1], 0, true)).toThrow(/numSamples >= 1/);
    expect(() => g.multinomial([1, 0, 1], 3, false)).toThrow(/cannot draw 3 samples from 2 non-zero weights/);
  });

  test("PythonRandom's bounds", () => {
    const r = new PythonRandom(1);
    expect(() => r.randbelow(0)).toThrow(/n >= 1/);
    expect(() => r.getrandbits(54)).toThrow(/getrandbitsBig/);
    expect(() => r.getrandbitsBig(-1)).toThrow(/k >= 0/);
  });
});
