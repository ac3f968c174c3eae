import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  buildContexts,
  checkSqrtLine,
  Generator,
  loadDataset,
  parseAddition,
  sampleWords,
  tableModel,
  Vocab,
} from "../lib/index";
import { additionExamples, sqrtExamples, sqrtLine } from "../lib/data/datasets";

describe("dataset registry", () => {
  test("names and words load by name", () => {
    expect(loadDataset("names").words).toHaveLength(32033);
    const words = loadDataset("words").words;
    expect(words.length).toBeGreaterThan(200000);
    words.slice(0, 1000).forEach((w) => expect(w).toMatch(/^[a-z]+$/));
  });
  test("addition examples are right, seeded, and have no operators", () => {
    const ex = additionExamples(500, 2, 7);
    expect(additionExamples(500, 2, 7)).toEqual(ex);
    expect(additionExamples(500, 2, 8)).not.toEqual(ex);
    for (const line of ex) {
      expect(line).toMatch(/^\d{7}$/);
      const p = parseAddition(line)!;
      expect(p.a + p.b).toBe(p.sum);
    }
    expect(parseAddition("12+34")).toBeNull();
    expect(() => additionExamples(1, 0)).toThrow(/digits must be 1..7/);
  });
  test("square roots to 4 decimals for 1..1000, checkable", () => {
    const lines = sqrtExamples();
    expect(lines).toHaveLength(1000);
    expect(lines[1]).toBe("2: 1.4142");
    expect(lines[999]).toBe("1000: 31.6228");
    expect(checkSqrtLine("2: 1.4142")).toEqual({ n: 2, correct: true });
    expect(checkSqrtLine("2: 1.4143")).toEqual({ n: 2, correct: false });
    expect(checkSqrtLine("2 1.4")).toBeNull();
    expect(sqrtLine(16)).toBe("16: 4.0000");
  });
  test("square-root data contains '.', so its boundary token is a newline", () => {
    expect(Vocab.fromWords(loadDataset("sqrt").words).boundary).toBe("\n");
  });
  test("an unknown name is one clear error; a path loads any text file", () => {
    expect(() => loadDataset("poems")).toThrow(
      "unknown dataset 'poems': use one of names, words, brown, addition, sqrt or a file path",
    );
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mm-ds-")), "lines.txt");
    fs.writeFileSync(file, "Hello, World!\n");
    expect(loadDataset(file)).toEqual({ name: file, words: ["Hello, World!"], dropped: 0 });
    expect(() => loadDataset(path.join(os.tmpdir(), "nope", "x.txt"))).toThrow(/no such file/);
  });
  test("long lines of mixed case and punctuation: vocabulary, windows and sampling cope", () => {
    const g = new Generator(1);
    const alphabet = "ABCdef ghi,.;:!?'\"-()[]0123456789éü";
    const lines = Array.from({ length: 50 }, () =>
      Array.from({ length: 300 + g.randint(0, 300) }, () => alphabet[g.randint(0, alphabet.length)]).join(""),
    );
    const vocab = Vocab.fromWords(lines);
    expect(vocab.boundary).toBe("\n");
    expect(vocab.size).toBe(new Set(alphabet).size + 1);
    const ctx = buildContexts(lines, vocab, 8);
    expect(ctx.n).toBe(lines.reduce((a, l) => a + l.length + 1, 0));
    const uniform = vocab.chars.map(() => vocab.chars.map(() => 1));
    const samples = sampleWords(tableModel(uniform), vocab, 5, {
      blockSize: 1,
      generator: new Generator(3),
      maxLength: 400,
    });
    samples.forEach((s) => expect(Array.from(s).length).toBeLessThanOrEqual(400));
  });
});
