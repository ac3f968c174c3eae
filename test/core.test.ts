import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  bigramCounts,
  bigramNll,
  bigramPairs,
  buildContexts,
  countsToProbs,
  DataError,
  datasetFacts,
  Generator,
  isQuick,
  readLines,
  sampleWords,
  scoreWord,
  splitWords,
  steps,
  tableModel,
  topBigrams,
  Vocab,
} from "../lib/index";
import { splitLines } from "../lib/data/lines";

const NAMES = path.resolve(__dirname, "..", "data", "names.txt");

function tmpFile(name: string, content: string | Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mm-core-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

describe("readLines", () => {
  test("reads UTF-8 lines, tolerates CRLF and drops blank lines", () => {
    const file = tmpFile("a.txt", "emma\r\nolivia\n\n  \nzoë\n");
    expect(readLines(file)).toEqual(["emma", "olivia", "zoë"]);
  });
  test("splitLines drops a byte-order mark", () => {
    expect(splitLines("\ufeffab\ncd")).toEqual(["ab", "cd"]);
  });
  test("clear errors for a missing file, a directory, an empty, a binary and a non-UTF-8 file", () => {
    expect(() => readLines("/nonexistent/names.txt")).toThrow("cannot read /nonexistent/names.txt: no such file");
    expect(() => readLines(os.tmpdir())).toThrow(/is a directory/);
    expect(() => readLines(tmpFile("e.txt", "\n \n"))).toThrow(/holds no non-blank line/);
    expect(() => readLines(tmpFile("b.bin", Buffer.from([1, 0, 2])))).toThrow(/looks binary/);
    expect(() => readLines(tmpFile("l.txt", Buffer.from([0x61, 0xe9, 0x62])))).toThrow(/not valid UTF-8/);
    expect(() => readLines(os.tmpdir())).toThrow(DataError);
  });
  test("the names dataset: 32,033 names from 2 to 15 characters", () => {
    const facts = datasetFacts(readLines(NAMES));
    expect(facts).toMatchObject({ count: 32033, shortest: 2, longest: 15 });
  });
});

describe("Vocab", () => {
  const vocab = Vocab.fromWords(["emma", "ava", "zoe"]);
  test("boundary '.' at 0, characters sorted after it", () => {
    expect(vocab.chars).toEqual([".", "a", "e", "m", "o", "v", "z"]);
    expect(vocab.size).toBe(7);
    expect(vocab.stoi(".")).toBe(0);
    expect(vocab.itos(1)).toBe("a");
  });
  test("encode/decode round trip and a clear error on an unknown character", () => {
    expect(vocab.encode("emma")).toEqual([2, 3, 3, 1]);
    expect(vocab.decode([2, 3, 3, 1])).toBe("emma");
    expect(() => vocab.encode("bob")).toThrow('character "b" is not in the vocabulary');
    expect(() => vocab.itos(7)).toThrow(/outside the vocabulary of 7/);
  });
  test("the names vocabulary is '.' then a..z", () => {
    const v = Vocab.fromWords(readLines(NAMES));
    expect(v.chars.join("")).toBe(".abcdefghijklmnopqrstuvwxyz");
  });
  test("data containing '.' gets a newline boundary; an explicit clash is an error", () => {
    expect(Vocab.fromWords(["1.41", "2"]).boundary).toBe("\n");
    expect(() => Vocab.fromWords(["a.b"], ".")).toThrow(/boundary token "\." occurs in the data/);
  });
  test("JSON round trip", () => {
    expect(Vocab.fromJSON(vocab.toJSON()).chars).toEqual(vocab.chars);
  });
});

describe("Generator", () => {
  test("the same seed gives the same stream; another seed another", () => {
    const a = new Generator(2147483647);
    const b = new Generator(2147483647);
    const xs = [a.random(), a.randn(), a.randint(0, 27), a.multinomial([0.2, 0.8])];
    const ys = [b.random(), b.randn(), b.randint(0, 27), b.multinomial([0.2, 0.8])];
    expect(xs).toEqual(ys);
    expect(new Generator(1).random()).not.toBe(new Generator(2).random());
  });
  test("manualSeed restarts the stream", () => {
    const g = new Generator(5);
    const first = g.randnArray(4);
    g.manualSeed(5);
    expect(g.randnArray(4)).toEqual(first);
  });
  test("uniform, normal and integer draws have the right statistics", () => {
    const g = new Generator(0);
    const n = 100000;
    const normals = g.randnArray(n);
    const mean = normals.reduce((a, x) => a + x, 0) / n;
    const variance = normals.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    const ints = g.randintArray(n, 3, 7);
    expect(Math.min(...ints)).toBe(3);
    expect(Math.max(...ints)).toBe(6);
    for (let i = 0; i < 1000; i++) expect(g.random()).toBeLessThan(1);
  });
  test("multinomial follows the weights and never draws a zero weight", () => {
    const g = new Generator(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[g.multinomial([1, 0, 3])]! += 1;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / 30000).toBeCloseTo(0.75, 1);
    expect(() => g.multinomial([0, 0])).toThrow(/must not all be zero/);
    expect(() => g.multinomial([1, -1])).toThrow(/non-negative/);
  });
  test("shuffle is a seeded permutation", () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const s1 = new Generator(42).shuffle([...items]);
    expect(new Generator(42).shuffle([...items])).toEqual(s1);
    expect([...s1].sort((a, b) => a - b)).toEqual(items);
    expect(s1).not.toEqual(items);
  });
});

describe("bigram counting model", () => {
  const words = readLines(NAMES);
  const vocab = Vocab.fromWords(words);
  const counts = bigramCounts(words, vocab);

  test("bigram pairs of one word include both boundaries", () => {
    const { xs, ys } = bigramPairs(["emma"], Vocab.fromWords(["emma"]));
    // vocabulary . a e m: emma = 2 3 3 1
    expect(Array.from(xs)).toEqual([0, 2, 3, 3, 1]);
    expect(Array.from(ys)).toEqual([2, 3, 3, 1, 0]);
  });
  test("228,146 bigrams and the most common ones of the reference", () => {
    expect(counts.flat().reduce((a, c) => a + c, 0)).toBe(228146);
    expect(topBigrams(counts, vocab, 9)).toEqual([
      { bigram: "n.", count: 6763 },
      { bigram: "a.", count: 6640 },
      { bigram: "an", count: 5438 },
      { bigram: ".a", count: 4410 },
      { bigram: "e.", count: 3983 },
      { bigram: "ar", count: 3264 },
      { bigram: "el", count: 3248 },
      { bigram: "ri", count: 3033 },
      { bigram: "na", count: 2977 },
    ]);
  });
  // REFERENCE.md lists 2.4765 for this figure; the count model with +1 smoothing
  // gives 2.4546 here and in an independent plain-Python computation (2.4540
  // without smoothing), so the test pins the value the data determines.
  test("+1 smoothing gives an NLL of 2.4546 over all 228,146 bigrams (2.4540 unsmoothed)", () => {
    const probs = countsToProbs(counts, 1);
    probs.forEach((row) => expect(row.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 12));
    const { nll, count } = bigramNll(probs, words, vocab);
    expect(count).toBe(228146);
    expect(nll.toFixed(4)).toBe("2.4546");
    expect(bigramNll(countsToProbs(counts, 0), words, vocab).nll.toFixed(4)).toBe("2.4540");
  });
  test("without smoothing an unseen bigram has zero probability", () => {
    const probs = countsToProbs(counts, 0);
    const scores = scoreWord(probs, "andrejq", vocab);
    expect(scores.map((s) => s.bigram)).toEqual([".a", "an", "nd", "dr", "re", "ej", "jq", "q."]);
    expect(scores[6]!.logProb).toBe(-Infinity);
    expect(Number.isFinite(scoreWord(countsToProbs(counts, 1), "andrejq", vocab)[6]!.logProb)).toBe(true);
  });
  test("sampling from the table is reproducible with a seed", () => {
    const model = tableModel(countsToProbs(counts, 1));
    const a = sampleWords(model, vocab, 20, { blockSize: 1, generator: new Generator(2147483647) });
    const b = sampleWords(model, vocab, 20, { blockSize: 1, generator: new Generator(2147483647) });
    expect(a).toEqual(b);
    expect(a).toHaveLength(20);
    a.forEach((w) => expect(w).toMatch(/^[a-z]*$/));
  });
});

describe("context windows and splits", () => {
  const vocab = Vocab.fromWords(["emma"]);
  test("block size 3 windows of 'emma'", () => {
    const { X, Y, n } = buildContexts(["emma"], vocab, 3);
    expect(n).toBe(5);
    const rows = Array.from({ length: n }, (_, r) => vocab.decode(X.subarray(r * 3, r * 3 + 3)));
    expect(rows).toEqual(["...", "..e", ".em", "emm", "mma"]);
    expect(vocab.decode(Y)).toBe("emma.");
    expect(() => buildContexts(["emma"], vocab, 0)).toThrow(/positive integer/);
  });
  test("the names split with block 3 has about 182.5k / 22.8k / 22.8k examples", () => {
    const words = readLines(NAMES);
    const v = Vocab.fromWords(words);
    const split = splitWords(words, 42);
    expect(split.train.length).toBe(Math.floor(0.8 * words.length));
    expect(split.train.length + split.val.length + split.test.length).toBe(words.length);
    const sizes = [split.train, split.val, split.test].map((w) => buildContexts(w, v, 3).n);
    expect(sizes[0]! / 1000).toBeCloseTo(182.5, -1);
    expect(sizes[1]! / 1000).toBeCloseTo(22.8, -0.5);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(228146);
    expect(splitWords(words, 42)).toEqual(split);
    expect(() => splitWords(["a", "b"])).toThrow(/at least 3 examples/);
  });
});

describe("quick mode", () => {
  test("one switch for every notebook", () => {
    expect(isQuick({ MAKEMORE_QUICK: "1" })).toBe(true);
    expect(isQuick({})).toBe(false);
    expect(steps(200000, 2000, { MAKEMORE_QUICK: "1" })).toBe(2000);
    expect(steps(200000, 2000, {})).toBe(200000);
  });
});
