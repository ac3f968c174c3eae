import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const setup = require("../scripts/setup.js") as {
  ensureData(spec: { file: string; sha256: string; shared: string; url: string }): Promise<void>;
  NAMES: { file: string; sha256: string };
};

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function workdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "mm-setup-"));
}

describe("data setup", () => {
  beforeAll(() => {
    process.env.MAKEMORE_SETUP_QUIET = "1";
  });

  test("copies the shared file when its checksum matches", async () => {
    const dir = workdir();
    const shared = path.join(dir, "shared.txt");
    fs.writeFileSync(shared, "emma\nava\n");
    const file = path.join(dir, "data", "names.txt");
    await setup.ensureData({ file, shared, sha256: sha("emma\nava\n"), url: "http://127.0.0.1:9/none" });
    expect(fs.readFileSync(file, "utf8")).toBe("emma\nava\n");
  });

  test("a checksum mismatch is one clear error and writes nothing", async () => {
    const dir = workdir();
    const shared = path.join(dir, "shared.txt");
    fs.writeFileSync(shared, "tampered\n");
    const file = path.join(dir, "names.txt");
    await expect(
      setup.ensureData({ file, shared, sha256: sha("emma\n"), url: "http://127.0.0.1:9/none" }),
    ).rejects.toThrow(/names\.txt from .*shared\.txt has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; not using it/);
    expect(fs.readdirSync(dir)).toEqual(["shared.txt"]);
  });

  test("a bad copy never replaces a good file", async () => {
    const dir = workdir();
    const file = path.join(dir, "names.txt");
    fs.writeFileSync(file, "emma\n");
    const shared = path.join(dir, "shared.txt");
    fs.writeFileSync(shared, "tampered\n");
    // the existing file matches: nothing is read or written
    await setup.ensureData({ file, shared, sha256: sha("emma\n"), url: "http://127.0.0.1:9/none" });
    expect(fs.readFileSync(file, "utf8")).toBe("emma\n");
  });

  test("offline with no shared copy: one clear error", async () => {
    const dir = workdir();
    await expect(
      setup.ensureData({
        file: path.join(dir, "names.txt"),
        shared: path.join(dir, "missing.txt"),
        sha256: sha("x"),
        url: "https://127.0.0.1:9/names.txt",
      }),
    ).rejects.toThrow(
      /cannot get names\.txt: no copy at .*missing\.txt and the download from https:\/\/127\.0\.0\.1:9\/names\.txt failed/,
    );
  });

  test("the project's names.txt is in place and verified", () => {
    expect(sha(fs.readFileSync(setup.NAMES.file, "utf8"))).toBe(setup.NAMES.sha256);
  });

  test("the setup command is idempotent and quiet when nothing is missing", () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, "..", "scripts", "setup.js")], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
    const spec = JSON.parse(
      fs.readFileSync(path.join(__dirname, "..", ".jupyter", "kernels", "makemore-ts", "kernel.json"), "utf8"),
    ) as { argv: string[]; display_name: string };
    expect(spec.display_name).toBe("TypeScript (makemore-ts)");
    expect(spec.argv[1]).toMatch(/scripts\/kernel\.js$/);
  });
});

describe("fused kernels build", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kernels = require("../scripts/build-kernels.js") as {
    ensureKernels(options: { force?: boolean; paths?: { source: string; out: string } }): boolean;
    upToDate(paths?: { source: string; out: string }): boolean;
    DEFAULT: { source: string; out: string };
  };

  test("the project's binary is built and matches its source", () => {
    expect(kernels.upToDate()).toBe(true);
    expect(fs.statSync(kernels.DEFAULT.out).size).toBeGreaterThan(1000);
  });

  test("builds when missing, skips when up to date, rebuilds on a change; a broken source keeps the old binary", () => {
    const dir = workdir();
    const paths = { source: path.join(dir, "kernels.ts"), out: path.join(dir, "build", "kernels.wasm") };
    const wasmDir = path.dirname(kernels.DEFAULT.source);
    for (const f of fs.readdirSync(wasmDir).filter((f) => f.endsWith(".ts"))) {
      fs.copyFileSync(path.join(wasmDir, f), path.join(dir, f));
    }
    expect(kernels.upToDate(paths)).toBe(false);
    expect(kernels.ensureKernels({ paths })).toBe(true);
    const first = fs.readFileSync(paths.out);
    expect(first.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d])); // "\0asm"
    // the relaxed build: the same kernels, with relaxed SIMD's fused multiply-add (opcode 0xfd 0x105)
    const relaxed = fs.readFileSync(paths.out.replace(/\.wasm$/, "-relaxed.wasm"));
    expect(relaxed.subarray(0, 4)).toEqual(first.subarray(0, 4));
    expect(relaxed.includes(Buffer.from([0xfd, 0x85, 0x02]))).toBe(true);
    expect(first.includes(Buffer.from([0xfd, 0x85, 0x02]))).toBe(false);
    expect(kernels.ensureKernels({ paths })).toBe(false);
    // a missing build counts as out of date
    fs.renameSync(paths.out.replace(/\.wasm$/, "-relaxed.wasm"), `${paths.out}.aside`);
    expect(kernels.upToDate(paths)).toBe(false);
    fs.renameSync(`${paths.out}.aside`, paths.out.replace(/\.wasm$/, "-relaxed.wasm"));
    expect(kernels.upToDate(paths)).toBe(true);
    fs.appendFileSync(paths.source, "\nexport function extra(): i32 {\n  return 7;\n}\n");
    expect(kernels.upToDate(paths)).toBe(false);
    expect(kernels.ensureKernels({ paths })).toBe(true);
    // a file the entry re-exports is part of the source too
    fs.appendFileSync(path.join(dir, "sequence.ts"), "\nexport function extra2(): i32 {\n  return 8;\n}\n");
    expect(kernels.upToDate(paths)).toBe(false);
    expect(kernels.ensureKernels({ paths })).toBe(true);
    fs.appendFileSync(paths.source, "\nexport function broken(: i32 {\n");
    expect(() => kernels.ensureKernels({ paths })).toThrow(/^compiling .*kernels\.ts failed: .+/);
    const kept = fs.readFileSync(paths.out);
    expect(kept.length).toBeGreaterThan(1000);
    expect(fs.readdirSync(path.dirname(paths.out)).sort()).toEqual([
      "kernels-relaxed.wasm",
      "kernels.stamp",
      "kernels.wasm",
    ]);
  }, 180000);
});
