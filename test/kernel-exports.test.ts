/**
 * The declaration of the kernels' exports (lib/engines/kernel-exports.ts) is
 * what scripts/kernel-exports.js writes from the AssemblyScript sources, and
 * matches the compiled module of each build: the same function names, and
 * for each the same parameter count, parameter types and result.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { KERNEL_FILES, KernelMemory, runnableBuilds, type KernelBuild } from "../lib/engines/kernels";

interface Signature {
  name: string;
  params: { name: string; type: string }[];
  result: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require("../scripts/kernel-exports.js") as {
  moduleSignatures(entry: string): Signature[];
  OUT: string;
};
const ENTRY = path.join(__dirname, "..", "wasm", "kernels.ts");

/** A function's wasm type: parameter and result value types ("i32", "f32", "f64", ...). */
interface WasmType {
  params: string[];
  results: string[];
}

const VALTYPES: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128" };

/** The exported functions of a wasm binary and their types, read from its type, import, function and export sections. */
function exportedTypes(bytes: Uint8Array): Map<string, WasmType> {
  let at = 8; // after "\0asm" and the version
  const u32 = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  const name = (): string => {
    const n = u32();
    at += n;
    return Buffer.from(bytes.subarray(at - n, at)).toString("utf8");
  };
  const vec = <T>(item: () => T): T[] => Array.from({ length: u32() }, item);
  const valtypes = (): string[] => vec(() => VALTYPES[bytes[at++] as number] ?? "?");
  const limits = (): void => {
    const flags = bytes[at++] as number;
    u32();
    if (flags & 1) u32();
  };
  let types: WasmType[] = [];
  const funcTypes: number[] = []; // type index of each function, imported ones first
  const exports = new Map<string, WasmType>();
  while (at < bytes.length) {
    const id = bytes[at++] as number;
    const size = u32();
    const end = at + size;
    if (id === 1) {
      types = vec(() => {
        at++; // 0x60: a function type
        return { params: valtypes(), results: valtypes() };
      });
    }
    if (id === 2) {
      vec(() => {
        name();
        name();
        const kind = bytes[at++] as number;
        if (kind === 0) funcTypes.push(u32());
        else if (kind === 1) {
          at++; // a table: its element type, then its limits
          limits();
        } else if (kind === 2) limits();
        else at += 2; // a global: its type and mutability
      });
    }
    if (id === 3) funcTypes.push(...vec(u32));
    if (id === 7) {
      vec(() => {
        const n = name();
        const kind = bytes[at++] as number;
        const index = u32();
        if (kind === 0) exports.set(n, types[funcTypes[index] as number] as WasmType);
      });
    }
    at = end;
  }
  return exports;
}

/** The wasm value type each declared type is passed as (usize is i32 in wasm32). */
const WASM_OF: Record<string, string> = { i32: "i32", usize: "i32", f32: "f32", f64: "f64" };

test("lib/engines/kernel-exports.ts is what the AssemblyScript sources give (npm run build:kernels writes it)", () => {
  // in a child process: prettier, which formats it, loads its plugins by dynamic import
  const r = spawnSync(process.execPath, [path.join(__dirname, "..", "scripts", "kernel-exports.js"), "--stdout"], {
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  expect(fs.readFileSync(generator.OUT, "utf8")).toBe(r.stdout);
}, 30000);

describe.each(runnableBuilds())("the %s build", (build: KernelBuild) => {
  test("exports exactly the declared functions, with their parameter counts, types and results", () => {
    const declared = generator.moduleSignatures(ENTRY);
    const bytes = fs.readFileSync(KERNEL_FILES[build]);
    const actual = exportedTypes(bytes);
    expect([...actual.keys()].sort()).toEqual(declared.map((s) => s.name).sort());
    for (const s of declared) {
      expect({ name: s.name, ...actual.get(s.name) }).toEqual({
        name: s.name,
        params: s.params.map((p) => WASM_OF[p.type]),
        results: s.result === "void" ? [] : [WASM_OF[s.result]],
      });
    }
    // and the JavaScript view agrees on the counts
    const k = new KernelMemory(build).k as unknown as Record<string, (...a: number[]) => unknown>;
    for (const s of declared) expect([s.name, k[s.name]?.length]).toEqual([s.name, s.params.length]);
  });
});
