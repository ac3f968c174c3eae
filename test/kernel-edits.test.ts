/**
 * Editing files while a notebook is open, in a real kernel (jupyter_client, the
 * project's launcher and its patched tslab) running in a throwaway copy of the
 * project. One session goes through every case, and every cell after a file
 * event must still run:
 * (a) a new file in lib/ between two cells;
 * (b) an import that fails, then the missing file is created;
 * (c) JSON files written into the project root and the notebook folder;
 * (d) a lib function edited (an editor's rename-over save, then an in-place
 *     write): rerunning the import cell gives the new behaviour and the new export;
 * (e) lib/index and a lib submodule give the same module, before and after an edit;
 * (f) files created, renamed and removed while a cell runs;
 * (g) a JSON file that a cell imports is read again after it changes.
 */
import { copyProject, runSession, type CellResult, type ProjectCopy, type SessionStep } from "./support/kernel";

/** A function appended to the copy's lib/data/vocab.ts (lib/index re-exports only its curated names). */
const probe = (version: string, extra = "") =>
  `\nexport function editProbe(): string {\n  return "${version}";\n}\n${extra}`;

let copy: ProjectCopy;
let vocabSource: string;
const steps: SessionStep[] = [];
const cellIndex = new Map<string, number>();
let results: CellResult[] = [];
let fatal: string | null = null;
let log = "";

/** Adds a cell to the session under a name the tests look it up by. */
function cell(name: string, code: string): void {
  cellIndex.set(name, cellIndex.size);
  steps.push({ exec: code });
}

/** The result of a named cell; fails the test when the session never got there. */
function result(name: string): CellResult {
  const r = results[cellIndex.get(name) ?? -1];
  if (!r) throw new Error(`cell '${name}' did not run (${fatal ?? `${results.length} cells ran`}):\n${log}`);
  return r;
}

/** Expects a named cell to have run without any error and printed `stdout`. */
function expectRan(name: string, stdout: string | RegExp): void {
  const r = result(name);
  expect({ name, status: r.status, stderr: r.stderr, error: r.error }).toEqual({
    name,
    status: "ok",
    stderr: "",
    error: null,
  });
  expect(r.stdout).toMatch(stdout);
}

const settle = { sleep: 0.7 };
const importLib =
  'import * as idx from "./lib/index";\nimport * as sub from "./lib/data/vocab";\nimport * as ctx from "./lib/data/contexts";\n';
const sameModule = "console.log(idx.Vocab === sub.Vocab, idx.buildContexts === ctx.buildContexts);";

function buildSession(): void {
  cell(
    "start",
    'import { Vocab } from "./lib/index";\nimport { editProbe } from "./lib/data/vocab";\nconsole.log("start", typeof Vocab, editProbe());',
  );
  cell("same module", importLib + sameModule);
  // (a)
  steps.push({ write: "lib/added.ts", text: "export const added = 1;\n" }, settle);
  cell("after new file", 'console.log("one");');
  cell("after new file, again", 'console.log("two");');
  cell("import the new file", 'import { added } from "./lib/added";\nconsole.log("added", added);');
  // (b)
  cell("missing import", 'import { later } from "./lib/later";\nconsole.log(later);');
  cell("after missing import", 'console.log("three");');
  steps.push({ write: "lib/later.ts", text: 'export const later = "later";\n' }, settle);
  cell("import the created file", 'import { later } from "./lib/later";\nconsole.log(later);');
  cell("after created file", 'console.log("four");');
  // (c)
  steps.push(
    { write: "settings.json", text: '{ "a": 1 }\n' },
    { write: "notebooks/scratch.json", text: "{}\n" },
    settle,
  );
  cell("after json", 'console.log("five");');
  cell("after json, again", 'console.log("six");');
  // (d) the way many editors save: a new file renamed over the old one
  steps.push(
    { write: "lib/data/vocab.ts.tmp", text: vocabSource + probe("v2", "export const editAdded = true;\n") },
    { rename: ["lib/data/vocab.ts.tmp", "lib/data/vocab.ts"] },
    settle,
  );
  cell("edited", 'import { editProbe, editAdded } from "./lib/data/vocab";\nconsole.log(editProbe(), editAdded);');
  steps.push({ write: "lib/data/vocab.ts", text: vocabSource + probe("v3", "export const editAdded = 3;\n") });
  cell(
    "edited in place",
    'import { editProbe, editAdded } from "./lib/data/vocab";\nconsole.log(editProbe(), editAdded);',
  );
  // (e)
  cell("same module after edits", importLib + sameModule);
  // (g) JSON that a cell imports is read again once it changed
  steps.push({ write: "notebooks/config.json", text: '{ "size": 1 }\n' });
  cell("import json", 'import config from "./notebooks/config.json";\nconsole.log("size", config.size);');
  steps.push({ write: "notebooks/config.json", text: '{ "size": 2 }\n' });
  cell("import json again", 'import config from "./notebooks/config.json";\nconsole.log("size", config.size);');
  // (f)
  steps.push(
    { exec: 'await new Promise((r) => setTimeout(r, 2000));\nconsole.log("slept");', wait: false },
    { sleep: 0.3 },
    { write: "lib/during.ts", text: "export const during = 1;\n" },
    { write: "during.json", text: "[]\n" },
    { rename: ["lib/during.ts", "lib/renamed.ts"] },
    { remove: "lib/renamed.ts" },
    { remove: "settings.json" },
    { await: true },
  );
  cellIndex.set("while files change", cellIndex.size);
  cell("after the changes", 'console.log("seven");');
  cell("after the changes, again", 'import { Vocab } from "./lib/index";\nconsole.log("eight", typeof Vocab);');
}

beforeAll(async () => {
  copy = projectCopyWithProbe();
  buildSession();
  ({ results, fatal, log } = await runSession(copy, steps));
}, 600000);

afterAll(() => copy?.remove());

/** The copy, with editProbe() ("v1") added to its lib/data/vocab.ts before the kernel starts. */
function projectCopyWithProbe(): ProjectCopy {
  const c = copyProject();
  vocabSource = c.read("lib/data/vocab.ts");
  c.write("lib/data/vocab.ts", vocabSource + probe("v1"));
  return c;
}

test("the session ran every cell", () => {
  expect(fatal).toBeNull();
  expect(results).toHaveLength(cellIndex.size);
});

test("(a) a new file in lib/ between cells", () => {
  expectRan("start", /^start function v1\n$/);
  expectRan("after new file", "one");
  expectRan("after new file, again", "two");
  expectRan("import the new file", "added 1");
});

test("(b) a failed import, then the missing file is created", () => {
  const failed = result("missing import");
  expect(failed.status).toBe("error");
  expect(failed.stderr).toMatch(/Cannot find module '\.\/lib\/later'/);
  expect(failed.stderr).not.toMatch(/unexpected error/);
  expectRan("after missing import", "three");
  expectRan("import the created file", "later");
  expectRan("after created file", "four");
});

test("(c) JSON files written into the project root and the notebook folder", () => {
  expectRan("after json", "five");
  expectRan("after json, again", "six");
});

test("(d) an edited lib function: the rerun import cell has the new behaviour and export", () => {
  expectRan("edited", /v2 true\n$/);
  // one line says what was reloaded and what keeps the old code
  expect(result("edited").stdout).toMatch(
    /^tslab: reloaded lib\/data\/vocab and \d+ modules? importing it; values created before the edit keep the old code/,
  );
  expectRan("edited in place", /v3 3\n$/);
});

test("(e) lib/index and a lib submodule are the same module", () => {
  expectRan("same module", "true true");
  expectRan("same module after edits", /^true true\n$/);
});

test("(f) files created, renamed and removed while a cell runs", () => {
  expectRan("while files change", "slept");
  expectRan("after the changes", "seven");
  expectRan("after the changes, again", "eight function");
});

test("(g) a JSON file that a cell imports is read again after it changes", () => {
  expectRan("import json", "size 1");
  expectRan("import json again", "size 2");
});
