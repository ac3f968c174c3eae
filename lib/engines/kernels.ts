/**
 * The fused training kernels: a small WebAssembly module with 128-bit SIMD
 * (source: wasm/kernels.ts, AssemblyScript; `npm run setup` builds it twice:
 * wasm/build/kernels.wasm with plain SIMD, kernels-relaxed.wasm with relaxed
 * SIMD's fused multiply-add in the matrix products). The fused engine
 * (lib/engines/graph-net.ts) runs whole training steps of every model with it,
 * on any tfjs backend, through the named wrappers of lib/engines/kernel-calls.ts.
 *
 * Which build runs is chosen once per process: the relaxed one when the
 * runtime runs relaxed SIMD, else the plain one; MAKEMORE_KERNELS=plain or
 * =relaxed forces one (tests run each).
 *
 * Each {@link KernelMemory} is its own instance of the module, with its own
 * linear memory: buffers are laid out once with {@link KernelMemory.alloc}
 * and never freed one by one (the whole instance goes with its owner). That
 * memory is a shared WebAssembly.Memory, which the module imports: a pool of
 * worker threads (kernel-pool.ts) instantiates the same module on it.
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import * as v8 from "v8";
import type { KernelFunctions } from "./kernel-exports";

/** The two builds of the kernels: plain 128-bit SIMD, and relaxed SIMD (fused multiply-add). */
export type KernelBuild = "plain" | "relaxed";

/**
 * Where `npm run setup` writes each build: beside this file's own tree (not found through
 * node_modules, which a git worktree may share with another checkout by a symlink).
 */
export const KERNEL_FILES: Readonly<Record<KernelBuild, string>> = {
  plain: path.resolve(__dirname, "..", "..", "wasm", "build", "kernels.wasm"),
  relaxed: path.resolve(__dirname, "..", "..", "wasm", "build", "kernels-relaxed.wasm"),
};

/**
 * What an instance exports: the kernels, declared from their AssemblyScript sources
 * (lib/engines/kernel-exports.ts, written by `npm run build:kernels`), and its memory.
 */
export interface KernelExports extends KernelFunctions {
  /** the instance's linear memory */
  memory: WasmMemory;
}

/** The part of a WebAssembly.Memory the lib uses. */
export interface WasmMemory {
  /** the bytes (a SharedArrayBuffer; a new one, longer, after the memory grows) */
  readonly buffer: ArrayBufferLike;
  /** adds pages of 64 KiB; returns the previous number of pages */
  grow(pages: number): number;
}

// The global WebAssembly API, typed here: the project's TypeScript setup has no DOM library.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Instance: new (module: object, imports: object) => { exports: object };
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Whether this runtime runs the relaxed build. Node 20 has relaxed SIMD behind a V8 flag, which
 * it refuses in NODE_OPTIONS; V8 reads it when it compiles a module, so setting it here, before
 * the first compilation, serves every process that loads the kernels (the CLI, the notebooks'
 * kernel, jest's workers, the bench, a learner's script) without a flag on any command line.
 * Runtimes that ship relaxed SIMD validate the build without it.
 */
function runsRelaxed(bytes: Uint8Array): boolean {
  if (wasmApi.validate(bytes)) return true;
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return wasmApi.validate(bytes);
}

/** A compiled build, or (one line) why it cannot run here. */
type Loaded = { build: KernelBuild; module: object } | string;

/** Each build, compiled once. */
const modules = new Map<KernelBuild, Loaded>();

/** Compiles a build once per process; the reason when it cannot run here. */
function compileBuild(build: KernelBuild): Loaded {
  const known = modules.get(build);
  if (known !== undefined) return known;
  let result: Loaded;
  try {
    const bytes = fs.readFileSync(KERNEL_FILES[build]);
    const runs = build === "plain" || runsRelaxed(bytes);
    result = runs ? { build, module: new wasmApi.Module(bytes) } : "this runtime cannot run relaxed SIMD";
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    result =
      err.code === "ENOENT"
        ? "the fused kernels are not built (npm run setup)"
        : `the fused kernels did not load: ${String(err.message).split("\n")[0]}`;
  }
  modules.set(build, result);
  return result;
}

let chosen: Loaded | null = null;

/** The process's build, chosen once: the one MAKEMORE_KERNELS names, else relaxed where it runs, else plain. */
function defaultModule(): Loaded {
  if (chosen === null) chosen = chooseBuild(process.env.MAKEMORE_KERNELS ?? "");
  return chosen;
}

function chooseBuild(want: string): Loaded {
  if (!["", "auto", "plain", "relaxed"].includes(want)) {
    return `MAKEMORE_KERNELS must be plain, relaxed or auto, not '${want}'`;
  }
  if (want !== "plain") {
    const relaxed = compileBuild("relaxed");
    if (typeof relaxed !== "string") return relaxed;
    if (want === "relaxed") return `MAKEMORE_KERNELS=relaxed: ${relaxed}`;
  }
  return compileBuild("plain");
}

/** Whether the fused kernels can run in this process. */
export function kernelsAvailable(): boolean {
  return typeof defaultModule() !== "string";
}

/** Why the fused kernels cannot run, or null when they can. */
export function kernelsUnavailableReason(): string | null {
  const m = defaultModule();
  return typeof m === "string" ? m : null;
}

/** Which build of the kernels this process runs (null when none can run). */
export function kernelBuild(): KernelBuild | null {
  const m = defaultModule();
  return typeof m === "string" ? null : m.build;
}

/**
 * Makes the KernelMemory instances made from now on run `build` (the bench times both builds in
 * one process); instances already made keep theirs. Throws when that build cannot run here.
 */
export function setKernelBuild(build: KernelBuild): void {
  const m = compileBuild(build);
  if (typeof m === "string") throw new Error(m);
  chosen = m;
}

/** The builds that run here (for tests that check each). */
export function runnableBuilds(): KernelBuild[] {
  return (["plain", "relaxed"] as const).filter((b) => typeof compileBuild(b) !== "string");
}

const PAGE = 65536;

/** The most pages of 64 KiB a kernel memory may grow to (the builds declare it: scripts/build-kernels.js). */
export const KERNEL_MAX_PAGES = 65536;

/** A compiled build of the kernels with the shared memory it is instantiated on. */
export interface KernelModule {
  /** the compiled module (a WebAssembly.Module: worker threads instantiate it too) */
  readonly module: object;
  /** the memory its instances share */
  readonly memory: WasmMemory;
}

/** An instance of `module` on `memory` (shared): in this thread, or in a worker of kernel-pool.ts. */
export function instantiateKernels(module: object, memory: WasmMemory): KernelExports {
  const abort = (): never => {
    throw new Error("fused kernel aborted");
  };
  return new wasmApi.Instance(module, { env: { memory, abort } }).exports as unknown as KernelExports;
}

/** One instance of the kernels with a bump allocator over its memory. */
export class KernelMemory implements KernelModule {
  /** the kernels of this instance */
  readonly k: KernelExports;
  readonly module: object;
  readonly memory: WasmMemory;
  private next: number;
  private f32View: Float32Array;
  private i32View: Int32Array;

  /**
   * An instance of the process's build, or of the one named (tests check each).
   * @throws Error when that build cannot run here (the reason says why).
   */
  constructor(build?: KernelBuild) {
    const m = build === undefined ? defaultModule() : compileBuild(build);
    if (typeof m === "string") throw new Error(m);
    this.module = m.module;
    this.memory = new wasmApi.Memory({ initial: 1, maximum: KERNEL_MAX_PAGES, shared: true });
    this.k = instantiateKernels(m.module, this.memory);
    this.next = align(this.k.heapBase(), 64);
    this.f32View = new Float32Array(this.k.memory.buffer);
    this.i32View = new Int32Array(this.k.memory.buffer);
  }

  /**
   * Reserves `count` 4-byte values, zero-filled, and returns the byte offset.
   * At least 16 bytes after the last value stay unused, so SIMD loops may read
   * (and elementwise kernels write) one vector past the end.
   */
  alloc(count: number): number {
    const at = this.next;
    this.next = bufferEnd(at, count);
    const need = Math.ceil(this.next / PAGE) - this.k.memory.buffer.byteLength / PAGE;
    if (need > 0) {
      this.k.memory.grow(need);
      this.f32View = new Float32Array(this.k.memory.buffer);
      this.i32View = new Int32Array(this.k.memory.buffer);
    }
    return at;
  }

  /** Bytes laid out so far. */
  get bytes(): number {
    return this.next;
  }

  /** A float32 view of `count` values at byte offset `at` (valid until the next alloc). */
  f32(at: number, count: number): Float32Array {
    return this.f32View.subarray(at >> 2, (at >> 2) + count);
  }

  /**
   * Writes the `count` values at byte offset `from` `reps` times, one after the
   * other, from byte offset `to`: a [count] vector tiled into [reps, count].
   */
  tile(from: number, count: number, reps: number, to: number): void {
    const src = from >> 2;
    for (let r = 0; r < reps; r++) this.f32View.copyWithin((to >> 2) + r * count, src, src + count);
  }

  /** An int32 view of `count` values at byte offset `at` (valid until the next alloc). */
  i32(at: number, count: number): Int32Array {
    return this.i32View.subarray(at >> 2, (at >> 2) + count);
  }
}

/**
 * Where the next buffer starts after one of `count` 4-byte values at byte
 * offset `at`: 16 bytes of slack, then the next multiple of 64 (the layout
 * {@link KernelMemory.alloc} gives, so a layout can be sized before it is made).
 */
export function bufferEnd(at: number, count: number): number {
  return align(at + Math.max(1, count) * 4 + 16, 64);
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
