/**
 * Long lines: the Brown corpus as plain sentences (scripts/brown.js, run by
 * setup) and `--max-line-length`, which leaves out longer lines and says how many.
 */
import * as fs from "fs";
import * as path from "path";
import { loadDataset } from "../lib/data/datasets";
import { longestLine } from "../lib/data/sequences";
import { runCli, tempDir, writeNames } from "./support/cli";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { untag } = require("../scripts/brown.js") as { untag: (line: string) => string };

test("a tagged line becomes the sentence as written: tags gone, quotes and punctuation in place", () => {
  expect(untag("\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, in/in Atlanta's/np$ case/nn ./.")).toBe(
    'The jury said "no evidence", in Atlanta\'s case.',
  );
  expect(untag("\t(/( see/vb p./nn 5/cd )/) ;/. it/pps costs/vbz $/$ 10/cd ?/.")).toBe("(see p. 5); it costs $10?");
  expect(untag("   ")).toBe("");
});

test("brown: 57,340 sentences with long lines; maxLineLength drops and counts the longer ones", () => {
  const all = loadDataset("brown");
  expect(all.words).toHaveLength(57340);
  expect(longestLine(all.words)).toBe(1015);
  expect(all.dropped).toBe(0);
  const short = loadDataset("brown", { maxLineLength: 505 });
  expect(longestLine(short.words)).toBeLessThanOrEqual(505);
  expect(short.dropped).toBe(all.words.length - short.words.length);
  expect(short.dropped).toBeGreaterThan(0);
  expect(() => loadDataset("brown", { maxLineLength: 0 })).toThrow(/maxLineLength must be a positive integer/);
});

test("makemore train --max-line-length says what it dropped and trains on the rest", async () => {
  const root = tempDir("mm-brown-");
  const input = writeNames(root, 200);
  const text = fs.readFileSync(input, "utf8") + "x".repeat(40) + "\n";
  fs.writeFileSync(input, text);
  const out = path.join(root, "run");
  const r = await runCli([
    "train",
    "-i",
    input,
    "-o",
    out,
    "--model",
    "makemore-bigram",
    "--max-line-length",
    "30",
    "--max-steps",
    "10",
    "--eval-every",
    "10",
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`${input}: dropped 1 line longer than 30 characters`);
  const bad = await runCli(["train", "-i", input, "-o", path.join(root, "bad"), "--max-line-length", "0"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--max-line-length.*at least 1/);
});
