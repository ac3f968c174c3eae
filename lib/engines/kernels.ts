/**
 * The fused training kernels: a small WebAssembly module with 128-bit SIMD
 * (source: wasm/kernels.ts, AssemblyScript; `npm run setup` builds it into
 * wasm/build/kernels.wasm). lib/engines/fused.ts runs whole training steps of the
 * MLPs with it, on any tfjs backend, without a tfjs op per line of the model.
 *
 * Each {@link KernelMemory} is its own instance of the module, with its own
 * linear memory: buffers are laid out once with {@link KernelMemory.alloc}
 * and never freed one by one (the whole instance goes with its owner).
 *
 * @module
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../runtime/paths";

/** Where `npm run setup` writes the compiled kernels. */
export const KERNELS_WASM: string = path.join(projectRoot, "wasm", "build", "kernels.wasm");

/** The functions the module exports (byte offsets for every buffer argument). */
export interface KernelExports {
  /** C[M,N] = bias + (acc ? C : 0) + A·B; A(i,k) at a + 4(i·sar + k·sac) */
  gemm(
    M: number,
    N: number,
    K: number,
    a: number,
    sar: number,
    sac: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    acc: number,
    bias: number,
  ): void;
  /** dst[cols, rows] = src[rows, cols]ᵀ */
  transpose(rows: number, cols: number, src: number, dst: number): void;
  /** out[N] = (acc ? out : 0) + column sums of x[M, N] */
  colSum(M: number, N: number, x: number, out: number, acc: number): void;
  /** y = tanh(x) over n values, in vectors of 4 (up to 3 values past n are touched too) */
  tanhForward(n: number, x: number, y: number): void;
  /** dx = dy (1 - y²) over n values, in vectors of 4 */
  tanhBackward(n: number, y: number, dy: number, dx: number): void;
  /** p -= lr g over n values, in vectors of 4 */
  sgdUpdate(n: number, lr: number, g: number, p: number): void;
  /** coef · mean(p²) over n values; adds its gradient 2 coef p / n to g */
  l2Penalty(n: number, coef: number, p: number, g: number): number;
  /** zeros n floats */
  zero(n: number, p: number): void;
  /** out[b, t·D + d] = table[ix[b, t], d] */
  embedForward(B: number, T: number, D: number, ix: number, table: number, out: number): void;
  /** dTable = Σ of dOut rows into the rows they were read from */
  embedBackward(B: number, T: number, D: number, V: number, ix: number, dOut: number, dTable: number): void;
  /** training-mode batch norm over the rows of x[M, N] */
  bnForward(
    M: number,
    N: number,
    x: number,
    gamma: number,
    beta: number,
    eps: number,
    divisor: number,
    mean: number,
    invStd: number,
    unbiasedVar: number,
    xhat: number,
    y: number,
  ): void;
  /** backward pass of bnForward */
  bnBackward(
    M: number,
    N: number,
    dy: number,
    xhat: number,
    gamma: number,
    invStd: number,
    divisor: number,
    dgamma: number,
    dbeta: number,
    dx: number,
  ): void;
  /** evaluation-mode batch norm with running statistics (isStd: `running` holds a std, else a variance) */
  bnEval(
    M: number,
    N: number,
    x: number,
    gamma: number,
    beta: number,
    mean: number,
    running: number,
    eps: number,
    isStd: number,
    scale: number,
    shift: number,
    y: number,
  ): void;
  /** running = (1 - m) running + m value */
  blend(n: number, m: number, value: number, running: number): void;
  /** out = sqrt(v + eps) */
  sqrtEps(n: number, v: number, eps: number, out: number): void;
  /** mean cross-entropy of z[M, N] against targets y[M]; writes dz; returns the loss */
  crossEntropy(M: number, N: number, z: number, y: number, dz: number): number;
  /** first free byte after the module's static data */
  heapBase(): number;
  /** the instance's linear memory */
  memory: WasmMemory;
}

/** The part of a WebAssembly.Memory the lib uses. */
export interface WasmMemory {
  /** the bytes (replaced by a new buffer when the memory grows) */
  readonly buffer: ArrayBuffer;
  /** adds pages of 64 KiB; returns the previous number of pages */
  grow(pages: number): number;
}

// The global WebAssembly API, typed here: the project's TypeScript setup has no DOM library.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;
let failure: string | null = null;

/** Compiles the module once per process; null (and {@link kernelsUnavailableReason} set) when it cannot. */
function kernelModule(): object | null {
  if (compiled || failure) return compiled;
  try {
    compiled = new wasmApi.Module(fs.readFileSync(KERNELS_WASM));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    failure =
      err.code === "ENOENT"
        ? "the fused kernels are not built (npm run setup)"
        : `the fused kernels did not load: ${String(err.message).split("\n")[0]}`;
  }
  return compiled;
}

/** Whether the fused kernels can run in this process. */
export function kernelsAvailable(): boolean {
  return kernelModule() !== null;
}

/** Why the fused kernels cannot run, or null when they can. */
export function kernelsUnavailableReason(): string | null {
  kernelModule();
  return failure;
}

const PAGE = 65536;

/** One instance of the kernels with a bump allocator over its memory. */
export class KernelMemory {
  /** the kernels of this instance */
  readonly k: KernelExports;
  private next: number;
  private f32View: Float32Array;
  private i32View: Int32Array;

  /** @throws Error when the kernels are not available (the reason says why). */
  constructor() {
    const mod = kernelModule();
    if (!mod) throw new Error(failure ?? "the fused kernels are not available");
    const instance = new wasmApi.Instance(mod, {
      env: {
        abort: () => {
          throw new Error("fused kernel aborted");
        },
      },
    });
    this.k = instance.exports as unknown as KernelExports;
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
