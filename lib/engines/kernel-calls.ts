/**
 * The kernels of wasm/ called by name with named shapes, in the style of
 * llm.c's `matmul_forward(out, inp, weight, bias, B, T, C, OC)`: each wrapper
 * takes the matrices it reads and writes ({@link Mat}: a byte offset with its
 * rows and columns) and passes the module its positional arguments. The graph
 * ops (lib/engines/graph-*.ts) call only these.
 *
 * A gradient is written, or added to what is there when its `acc` flag is 1
 * (see `Backward.acc` in lib/engines/graph.ts).
 *
 * On a pool of threads (kernel-pool.ts), the big calls are split into parts
 * by their output alone (a matrix product by rows of C), so the bits are
 * those of one call whatever the thread count.
 *
 * @module
 */
import type { AdamWStep } from "../optim/optimizers";
import type { KernelThreads } from "./kernel-pool";
import type { KernelExports } from "./kernels";

/**
 * A matrix in kernel memory: `rows` × `cols` 4-byte values from byte offset
 * `at`, rows `ld` values apart (a block of a wider matrix), `cols` by default.
 * (One class, so that the wrappers' reads of its fields stay monomorphic: a
 * step makes hundreds of kernel calls.)
 */
export class Mat {
  constructor(
    readonly at: number,
    readonly rows: number,
    readonly cols: number,
    readonly ld: number = cols,
  ) {}
}

/** 1: add to what the output holds; 0: overwrite it. */
export type Acc = 0 | 1;

/** A Linear's bias gradient [1, N] computed beside its weight's ({@link KernelCalls.matmulAtB}), written or added by `acc`. */
export interface BiasGrad {
  db: Mat;
  acc: Acc;
}

/** A matrix at `at` of rows × cols. */
export function mat(at: number, rows: number, cols: number): Mat {
  return new Mat(at, rows, cols);
}

/** The rows × cols block of `m` from row `row`, column `col` (a view: same memory, m's row stride). */
export function block(m: Mat, row: number, col: number, rows: number, cols: number): Mat {
  return new Mat(m.at + (row * m.ld + col) * 4, rows, cols, m.ld);
}

/** Values of a matrix (its rows × cols). */
const size = (m: Mat): number => m.rows * m.cols;

/**
 * Work (about multiply-adds) under which a call runs whole on this thread. A split costs
 * microseconds: at 65,536 the lecture MLP (products of 192k) and the GRU's steps (32 lines) ran
 * slower on 2 threads than on 1. At 2^18 the transformer's attention and its memory-bound calls
 * split too, so each thread keeps working on the rows it wrote: 5% faster than at 2^20 (steps of
 * the two thresholds alternated in one process).
 */
let SPLIT_MIN = 1 << 18;

/** Sets the work under which calls run whole (tests split small calls with it); returns the previous value. */
export function setSplitMin(work: number): number {
  const previous = SPLIT_MIN;
  SPLIT_MIN = work;
  return previous;
}

/**
 * The product kernel's block of the shared dimension (K_BLOCK in wasm/gemm.ts): it sums each block
 * from 0 and adds the sum to C, which lets {@link KernelCalls.matmulAtB} split by K with the bits
 * of one call (test/threads.test.ts fails if the two disagree).
 */
const GEMM_K_BLOCK = 256;

/**
 * Partials (each of a weight gradient's size) that a product of shared dimension K needs to split
 * by K over `threads` threads: one per block past the first when there is a block per thread (a
 * weight gradient over the batch's rows), else 0 (it splits by rows of C).
 */
export function kPartials(K: number, threads: number): number {
  const blocks = Math.ceil(K / GEMM_K_BLOCK);
  return threads > 1 && blocks === threads ? blocks - 1 : 0;
}

/** The arguments of a part of a split call from its items [from, from + count) and its number. */
type Parts = (from: number, count: number, part: number) => number[];

/** The kernels {@link KernelCalls} splits over threads. */
type SplitKernel =
  | "gemm"
  | "colSum"
  | "addForward"
  | "addGrad"
  | "geluForward"
  | "geluBackward"
  | "tanhForward"
  | "tanhBackward"
  | "addPositions"
  | "seqCrossEntropy"
  | "causalMeanForward"
  | "causalMeanBackward"
  | "layerNormForward"
  | "attentionForward"
  | "attentionBackward"
  | "adamwUpdate"
  | "sgdUpdate"
  | "transpose"
  | "embedForward"
  | "embedBackward";

/**
 * The work (in multiply-adds of a product) one value of an elementwise or row kernel counts for:
 * an add, a LayerNorm or a column sum moves each value through memory at about the time a
 * product spends on 16 multiply-adds (GELU's and tanh's exponentials: {@link EXP_WORK}). Splitting
 * these too keeps each thread on the rows it wrote: a transformer step on 2 threads 12.98 →
 * 12.04 ms with the adds and LayerNorm split.
 */
const VALUE_WORK = 16;

/**
 * The work of one value of GELU's or tanh's forward pass: 1.9 ns a value (the hierarchical net's
 * tanh, 28,672 values in 53 µs), the time of about 48 multiply-adds of a product at 50 GFLOP/s.
 */
const EXP_WORK = 48;

/** Rows of a part of a split by rows: the product kernel's tile (each part but the last a whole number of them). */
const ROWS = 4;

/**
 * The kernels of one module instance, called by name: each method takes the
 * matrices it reads and writes and passes the kernel its positional
 * arguments. (Methods of one object rather than module functions: a step makes
 * hundreds of these calls, and a bundler's module bindings cost a getter each.)
 */
export class KernelCalls {
  /** the workers' indices of the kernels split so far */
  private readonly ops = new Map<SplitKernel, number>();

  /**
   * The rows of the batch the parts of the calls chained since the last join split, and the rows
   * of each part but the last (0: none pending). See {@link split}.
   */
  private chainRows = 0;
  private chainPer = 0;

  /** The kernels of one instance, with the pool its calls may be split over (null: this thread only). */
  constructor(
    private readonly raw: KernelExports,
    private readonly t: KernelThreads | null = null,
  ) {}

  /** The kernels, for a call on this thread alone: the chained parts end first. */
  private get k(): KernelExports {
    if (this.chainRows > 0) this.sync();
    return this.raw;
  }

  /** Whether row-local calls chain (see {@link split}): only inside {@link chaining}. */
  private chains = false;

  /**
   * Runs `f` (a forward or a backward pass) with the row-local calls it makes chained, then waits
   * for their parts: what `f` returns, every kernel call has ended.
   */
  chaining<R>(f: () => R): R {
    this.chains = true;
    try {
      return f();
    } finally {
      this.chains = false;
      this.sync();
    }
  }

  /** Waits for the parts of chained calls still running (before reading what they write). */
  sync(): void {
    this.chainRows = 0;
    this.t?.join();
  }

  /** false: every call runs whole on this thread, the pool stays idle (the same bits: see {@link split}) */
  threaded = true;

  /** Threads the calls may be split over (per-thread scratch: {@link GraphBuilder.threads}). */
  get threads(): number {
    return this.t?.threads ?? 1;
  }

  // -------------------------------------------------------------------------
  // products, sums, copies

  /** C [M, N] = (acc ? C : 0) + bias [N] + A [M, K] · B [K, N] (bias null: none). */
  matmul(C: Mat, A: Mat, B: Mat, acc: Acc = 0, bias: Mat | null = null): void {
    if (A.rows !== C.rows || A.cols !== B.rows || B.cols !== C.cols) badProduct(C, A.rows, A.cols, B);
    this.gemm(C, B.rows, A.at, A.ld, 1, B, acc, bias ? bias.at : 0, 1);
  }

  /**
   * C [M, N] = (acc ? C : 0) + Aᵀ · B for A stored [K, M] and B [K, N]: a weight's gradient xᵀ dy,
   * without a transpose; with `bias`, also its db [N] (+)= the column sums of B, a Linear's bias
   * gradient. Given `partials` ({@link kPartials} rows of M·N values, and N more with a bias) and
   * one block of K per thread, split by K (see {@link gemmByK}), else by rows of C.
   */
  matmulAtB(C: Mat, A: Mat, B: Mat, acc: Acc = 0, partials: Mat | null = null, bias: BiasGrad | null = null): void {
    if (A.cols !== C.rows || A.rows !== B.rows || B.cols !== C.cols) badProduct(C, A.cols, A.rows, B);
    const K = B.rows;
    const t = this.threaded ? this.t : null;
    if (t && partials && C.ld === C.cols && kPartials(K, t.threads) > 0 && size(C) * K >= SPLIT_MIN) {
      this.gemmByK(C, A, B, acc, partials, bias, t);
      return;
    }
    this.gemm(C, K, A.at, 1, A.ld, B, acc, 0, 0);
    if (bias) this.colSum(bias.db, B, bias.acc);
  }

  /**
   * {@link matmulAtB} with each block of K on its own thread: this one sums block 0 into C as the
   * kernel does, each worker its block into a partial, then this thread adds the partials to C in
   * block order. That is the kernel's own order (it sums each block from 0, then adds it to C), so
   * the bits are those of one call; the bias's column sums go the same way (the colSum kernel sums
   * in the same blocks). A weight gradient's K is the batch's rows, which the calls before it split
   * among the threads: so each thread reads only rows it wrote, where a split by rows of C has
   * each read all of x and dy (the BoW's step on 2 threads 4% faster, the transformer's 2 to 4%,
   * alternated in one process).
   */
  private gemmByK(C: Mat, A: Mat, B: Mat, acc: Acc, partials: Mat, bias: BiasGrad | null, t: KernelThreads): void {
    const [M, N, K] = [C.rows, C.cols, B.rows];
    if (partials.cols < M * N + (bias ? N : 0)) throw new Error(`matmulAtB: partials of ${partials.cols} values for [${M}, ${N}]`); // prettier-ignore
    const rows = (p: number): number => Math.min(GEMM_K_BLOCK, K - p * GEMM_K_BLOCK);
    const row0 = (m: Mat, p: number): number => m.at + 4 * p * GEMM_K_BLOCK * m.ld; // block p's first row
    const gemm = (p: number, c: number, ldc: number, accC: Acc): number[] =>
      [M, N, rows(p), row0(A, p), 1, A.ld, row0(B, p), B.ld, c, ldc, accC, 0]; // prettier-ignore
    const colSum = (p: number, out: number, accOut: Acc): number[] => [rows(p), N, row0(B, p), B.ld, out, accOut];
    const partial = (p: number): number => partials.at + 4 * (p - 1) * partials.cols;
    const parts = Math.ceil(K / GEMM_K_BLOCK);
    // each block's rows are those a chained call's part wrote on the same thread: no wait for them
    if (this.chainRows > 0 && (this.chainRows !== K || this.chainPer !== GEMM_K_BLOCK)) this.sync();
    for (let p = 1; p < parts; p++) {
      t.start(p, this.op("gemm"), gemm(p, partial(p), N, 0));
      if (bias) t.start(p, this.op("colSum"), colSum(p, partial(p) + 4 * M * N, 0));
    }
    try {
      (this.raw.gemm as (...a: number[]) => unknown)(...gemm(0, C.at, C.ld, acc));
      if (bias) (this.raw.colSum as (...a: number[]) => unknown)(...colSum(0, bias.db.at, bias.acc));
    } finally {
      this.sync(); // the workers' parts end before this call does, whatever happened here
    }
    for (let p = 1; p < parts; p++) {
      this.raw.addGrad(M * N, partial(p), C.at, 1);
      if (bias) this.raw.addGrad(N, partial(p) + 4 * M * N, bias.db.at, 1);
    }
  }

  /**
   * C = (acc ? C : 0) + bias + A · B with A(i, k) at a + 4 (i·sar + k·sac): split by rows of C,
   * {@link ROWS} at a time; chained (`rowLocal` 1) when row i of C reads only row i of A.
   */
  private gemm(
    C: Mat,
    K: number,
    a: number,
    sar: number,
    sac: number,
    B: Mat,
    acc: Acc,
    bias: number,
    rowLocal: 0 | 1,
  ): void {
    const { rows: M, cols: N, ld } = C;
    const args = (i: number, rows: number): number[] => [
      ...[rows, N, K, a + 4 * i * sar, sar, sac],
      ...[B.at, B.ld, C.at + 4 * i * ld, ld, acc, bias],
    ];
    this.split("gemm", M, ROWS, M * N * K, args, rowLocal);
  }

  /**
   * Runs kernel `name` on n items (rows, lines, values) in one part per thread, each a
   * multiple of `unit` items but the last: `args(from, count, part)` gives the arguments for
   * items [from, from + count). The workers start parts 1.., this thread runs part 0, then
   * waits. Calls under {@link SPLIT_MIN} of `work` (about multiply-adds) run whole here.
   *
   * A row-local call (`rowsPerItem` > 0: item i is rows [i·rowsPerItem, (i+1)·rowsPerItem) of the
   * batch, and a part reads and writes only its own rows of every matrix with the batch's rows,
   * besides parameters) does not wait for its parts: the next call goes on if it is row-local
   * with the same rows per part (each worker runs its calls in order, so it reads what its own
   * part wrote), and anything else waits for them first ({@link sync}). A forward pass is mostly
   * such a chain. Views that shift rows (a block from row > 0) must not take part in one.
   */
  private split(name: SplitKernel, n: number, unit: number, work: number, args: Parts, rowsPerItem = 0): void {
    const t = this.threaded ? this.t : null;
    const parts = t === null || work < SPLIT_MIN ? 1 : Math.min(t.threads, Math.ceil(n / unit));
    const per = Math.ceil(n / parts / unit) * unit;
    const chained = this.chains && parts > 1 && rowsPerItem > 0;
    if (this.chainRows > 0 && !(chained && this.chainRows === n * rowsPerItem && this.chainPer === per * rowsPerItem)) this.sync(); // prettier-ignore
    let part = 1;
    for (let from = per; from < n; from += per, part++) t?.start(part, this.op(name), args(from, Math.min(per, n - from), part)); // prettier-ignore
    try {
      (this.raw[name] as (...a: number[]) => unknown)(...args(0, Math.min(per, n), 0));
    } catch (e) {
      this.sync(); // the workers' parts end before this call does
      throw e;
    }
    if (chained) [this.chainRows, this.chainPer] = [n * rowsPerItem, per * rowsPerItem];
    else if (part > 1) t?.join();
  }

  /** {@link split} of a row-local call by rows of the batch, {@link ROWS} at a time. */
  private byRows(name: SplitKernel, rows: number, work: number, args: Parts): void {
    this.split(name, rows, ROWS, work, args, 1);
  }

  /** {@link split} of a row-local call by lines of T rows of the batch. */
  private byLines(name: SplitKernel, lines: number, T: number, work: number, args: Parts): void {
    this.split(name, lines, 1, work, args, T);
  }

  /**
   * {@link split} of an elementwise kernel over the values of m [rows, cols] (contiguous), by rows in
   * the products' parts, so that each thread goes on with the rows it wrote: `args(from, count)`
   * in values; `perValue` is a value's work.
   */
  private splitRows(
    name: SplitKernel,
    m: Mat,
    perValue: number,
    args: (from: number, count: number) => number[],
  ): void {
    const c = m.cols;
    this.byRows(name, m.rows, perValue * size(m), (r, rows) => args(r * c, rows * c));
  }

  /** The workers' index of a kernel. */
  private op(name: SplitKernel): number {
    let i = this.ops.get(name);
    if (i === undefined) {
      i = this.t?.op(name) ?? -1;
      this.ops.set(name, i);
    }
    return i;
  }

  /** dst [cols, rows] = src [rows, cols]ᵀ (int32 values pass through unchanged). */
  transpose(dst: Mat, src: Mat): void {
    if (dst.rows !== src.cols || dst.cols !== src.rows) {
      throw new Error(`transpose: [${dst.rows}, ${dst.cols}] from [${src.rows}, ${src.cols}]`);
    }
    // split by columns of src, rows of dst
    this.split("transpose", src.cols, 4, VALUE_WORK * size(src), (j, n) => [
      src.rows,
      n,
      src.at + 4 * j,
      src.ld,
      dst.at + 4 * j * dst.ld,
      dst.ld,
    ]);
  }

  /** out [1, N] = (acc ? out : 0) + the column sums of x [M, N]. */
  colSum(out: Mat, x: Mat, acc: Acc = 0): void {
    // split by columns: each column's sum keeps its order
    this.split("colSum", x.cols, 16, VALUE_WORK * size(x), (j, n) => [
      x.rows,
      n,
      x.at + 4 * j,
      x.ld,
      out.at + 4 * j,
      acc,
    ]);
  }

  /** out = a + b, elementwise. */
  addForward(out: Mat, a: Mat, b: Mat): void {
    this.splitRows("addForward", out, VALUE_WORK, (i, n) => {
      const o = 4 * i;
      return [n, a.at + o, b.at + o, out.at + o];
    });
  }

  /** dx = (acc ? dx : 0) + dy, elementwise (a gradient passed on). */
  addGrad(dx: Mat, dy: Mat, acc: Acc): void {
    this.splitRows("addGrad", dx, VALUE_WORK, (i, n) => [n, dy.at + 4 * i, dx.at + 4 * i, acc]);
  }

  /** Zeros. */
  zero(m: Mat): void {
    this.k.zero(size(m), m.at);
  }

  /** Every row of dst [R, N] = src [1, N]. */
  broadcastRow(dst: Mat, src: Mat): void {
    this.k.broadcastRow(dst.rows, dst.cols, src.at, dst.at);
  }

  /** dst = src, rows and columns of dst (either may be a block of a wider matrix). */
  copyRows(dst: Mat, src: Mat): void {
    this.k.copyRows(dst.rows, dst.cols, src.at, src.ld, dst.at, dst.ld);
  }

  /** src rows [P, Q] (row p·Q + q) regrouped as [Q, P] (row q·P + p) into dst, rows of dst.cols values. */
  permuteRows(dst: Mat, src: Mat, P: number): void {
    this.k.permuteRows(P, src.rows / P, dst.cols, src.at, dst.at);
  }

  // ---------------------------------------------------------------------------
  // embeddings

  /** out [n, D] = rows of table [V, D] picked by the int32 ids (n of them). */
  embedForward(out: Mat, table: Mat, ids: Mat): void {
    const D = table.cols;
    this.byRows("embedForward", size(ids), VALUE_WORK * size(out), (i, n) => [
      n,
      1,
      D,
      ids.at + 4 * i,
      table.at,
      out.at + 4 * i * D,
    ]);
  }

  /** dTable [V, D] = 0, then each row of dOut [n, D] added into the row it was read from. */
  embedBackward(dTable: Mat, dOut: Mat, ids: Mat): void {
    // split by columns, 16 (a cache line) at a time: each sum keeps the order of the ids. Each part
    // reads every row of dOut, half of them from the other core's cache: at 32,768 values (the BoW's,
    // the transformer's on names) the split made the BoW's step on 2 threads 4% slower, so a value
    // counts as one multiply-add
    const D = dTable.cols;
    this.split("embedBackward", D, 16, size(dOut), (j, n) => [
      size(ids),
      n,
      D,
      dTable.rows,
      ids.at,
      dOut.at + 4 * j,
      dTable.at + 4 * j,
    ]);
  }

  /** out [B·T, D] = x + row t of pos [≥T, D] at position t of each of the lines of T. */
  addPositions(out: Mat, x: Mat, pos: Mat, T: number): void {
    const D = x.cols;
    this.byLines("addPositions", x.rows / T, T, VALUE_WORK * size(x), (b, lines) => {
      const o = 4 * b * T * D;
      return [lines, T, D, x.at + o, pos.at, out.at + o];
    });
  }

  /** ids [B·T, w]: k·stride + the k-th newest token of each position of tokens [B, T], `blank` before a line. */
  windowIds(ids: Mat, tokens: Mat, blank: number, stride: number): void {
    this.k.windowIds(tokens.rows, tokens.cols, ids.cols, blank, stride, tokens.at, ids.at);
  }

  /** out [M, N] = (bias [N]) + Σ of the w rows of table [·, N] each row of ids [M, w] names. */
  gatherSum(out: Mat, table: Mat, ids: Mat, bias: Mat | null): void {
    this.k.gatherSum(out.rows, ids.cols, out.cols, ids.at, table.at, bias ? bias.at : 0, out.at);
  }

  /** dTable [R, N] = 0, then each row of dy [M, N] added into the w rows its ids [M, w] named. */
  scatterRows(dTable: Mat, dy: Mat, ids: Mat): void {
    this.k.scatterRows(dy.rows, ids.cols, dy.cols, dTable.rows, ids.at, dy.at, dTable.at);
  }

  // ---------------------------------------------------------------------------
  // nonlinearities

  /** out = tanh(x) */
  tanhForward(out: Mat, x: Mat): void {
    this.splitRows("tanhForward", x, EXP_WORK, (i, n) => [n, x.at + 4 * i, out.at + 4 * i]);
  }

  /** dx = dOut (1 - out²), from tanh's output */
  tanhBackward(dx: Mat, out: Mat, dOut: Mat): void {
    this.splitRows("tanhBackward", out, VALUE_WORK, (i, n) => [n, out.at + 4 * i, dOut.at + 4 * i, dx.at + 4 * i]);
  }

  /** out = NewGELU(x); gate = σ(2u) of every value, for the backward pass */
  geluForward(out: Mat, x: Mat, gate: Mat): void {
    this.splitRows("geluForward", x, EXP_WORK, (i, n) => [n, x.at + 4 * i, out.at + 4 * i, gate.at + 4 * i]);
  }

  /** dx (+)= dOut · NewGELU'(x), from the forward pass's gate */
  geluBackward(dx: Mat, x: Mat, gate: Mat, dOut: Mat, acc: Acc): void {
    this.splitRows("geluBackward", x, VALUE_WORK, (i, n) => {
      const o = 4 * i;
      return [n, x.at + o, gate.at + o, dOut.at + o, dx.at + o, acc];
    });
  }

  // ---------------------------------------------------------------------------
  // normalizations

  /** Training-mode batch norm of x [M, N] column by column, keeping mean, 1/std, the unbiased variance [N] and xhat. */
  batchNormForward(
    out: Mat,
    x: Mat,
    gamma: Mat,
    beta: Mat,
    s: { eps: number; divisor: number; mean: Mat; invStd: Mat; unbiasedVar: Mat; xhat: Mat },
  ): void {
    this.k.bnForward(
      x.rows,
      x.cols,
      x.at,
      gamma.at,
      beta.at,
      s.eps,
      s.divisor,
      s.mean.at,
      s.invStd.at,
      s.unbiasedVar.at,
      s.xhat.at,
      out.at,
    );
  }

  /** dx, dgamma, dbeta of {@link batchNormForward} from dOut [M, N] (all written). */
  batchNormBackward(
    g: { dx: Mat; dgamma: Mat; dbeta: Mat },
    dOut: Mat,
    s: { xhat: Mat; gamma: Mat; invStd: Mat; divisor: number },
  ): void {
    this.k.bnBackward(
      dOut.rows,
      dOut.cols,
      dOut.at,
      s.xhat.at,
      s.gamma.at,
      s.invStd.at,
      s.divisor,
      g.dgamma.at,
      g.dbeta.at,
      g.dx.at,
    );
  }

  /** Evaluation-mode batch norm of x [M, N] with running statistics (a std when isStd, else a variance); scale and shift are scratch [N]. */
  batchNormEval(
    out: Mat,
    x: Mat,
    p: { gamma: Mat; beta: Mat; mean: Mat; running: Mat; eps: number; isStd: boolean; scale: Mat; shift: Mat },
  ): void {
    this.k.bnEval(
      x.rows,
      x.cols,
      x.at,
      p.gamma.at,
      p.beta.at,
      p.mean.at,
      p.running.at,
      p.eps,
      p.isStd ? 1 : 0,
      p.scale.at,
      p.shift.at,
      out.at,
    );
  }

  /** running = (1 - m) running + m value */
  blend(running: Mat, value: Mat, m: number): void {
    this.k.blend(size(running), m, value.at, running.at);
  }

  /** out = sqrt(v + eps) */
  sqrtEps(out: Mat, v: Mat, eps: number): void {
    this.k.sqrtEps(size(v), v.at, eps, out.at);
  }

  /** LayerNorm of each row of x [M, N]; keeps each row's mean and 1/std in mean [M], rstd [M]. */
  layerNormForward(out: Mat, x: Mat, p: { gamma: Mat; beta: Mat; eps: number; mean: Mat; rstd: Mat }): void {
    const N = x.cols;
    this.byRows("layerNormForward", x.rows, VALUE_WORK * size(x), (i, rows) => {
      const [r, o] = [4 * i * N, 4 * i];
      return [rows, N, x.at + r, p.gamma.at, p.beta.at, p.eps, p.mean.at + o, p.rstd.at + o, out.at + r];
    });
  }

  /** dx, dgamma and dbeta of {@link layerNormForward}, each written or added by its flag. */
  layerNormBackward(
    g: { dx: Mat; dgamma: Mat; dbeta: Mat },
    acc: { x: Acc; gamma: Acc; beta: Acc },
    dOut: Mat,
    s: { x: Mat; gamma: Mat; mean: Mat; rstd: Mat },
  ): void {
    this.k.layerNormBackward(
      s.x.rows,
      s.x.cols,
      s.x.at,
      dOut.at,
      s.gamma.at,
      s.mean.at,
      s.rstd.at,
      g.dx.at,
      acc.x,
      g.dgamma.at,
      acc.gamma,
      g.dbeta.at,
      acc.beta,
    );
  }

  // ---------------------------------------------------------------------------
  // sequences: causal mean and attention over lines of T positions

  /** out [B·T, D]: position t gets the mean of positions 0..t of its line of x. Split by lines. */
  causalMeanForward(out: Mat, x: Mat, T: number): void {
    const D = x.cols;
    this.byLines("causalMeanForward", x.rows / T, T, VALUE_WORK * size(x), (b, lines) => {
      const o = 4 * b * T * D;
      return [lines, T, D, x.at + o, out.at + o];
    });
  }

  /** dx (+)= the gradient of {@link causalMeanForward} from dOut; tmp holds D values for each thread. Split by lines. */
  causalMeanBackward(dx: Mat, dOut: Mat, T: number, acc: Acc, tmp: Mat): void {
    const D = dOut.cols;
    this.byLines("causalMeanBackward", dOut.rows / T, T, VALUE_WORK * size(dOut), (b, lines, part) => {
      const o = 4 * b * T * D;
      return [lines, T, D, dOut.at + o, dx.at + o, acc, tmp.at + 4 * part * D];
    });
  }

  /** Scratch values the attention kernels use for lines of T positions and heads of hs channels. */
  attentionWork(T: number, hs: number): number {
    return this.k.attentionWork(T, hs);
  }

  /**
   * out [B·T, C] = causal self-attention of qkv [B·T, 3C] with nHead heads;
   * the probabilities go to P (all of them when `keep`, else one reused block
   * per thread, P's rows split among work's). Split by lines; work has a row per thread.
   */
  attentionForward(out: Mat, qkv: Mat, s: { T: number; nHead: number; P: Mat; keep: boolean; work: Mat }): void {
    const { T, nHead, P, work } = s;
    const C = out.cols;
    const B = qkv.rows / T;
    const pOf = (b: number, part: number): number =>
      P.at + 4 * P.cols * (s.keep ? b * nHead * T : (part * P.rows) / work.rows);
    this.byLines("attentionForward", B, T, B * T * T * C, (b, lines, part) => [
      ...[lines, T, C, nHead, qkv.at + 4 * b * T * 3 * C, out.at + 4 * b * T * C],
      ...[pOf(b, part), s.keep ? 1 : 0, work.at + 4 * part * work.cols],
    ]);
  }

  /** dqkv (+)= the gradient of {@link attentionForward} from dOut and the kept probabilities P. */
  attentionBackward(
    dqkv: Mat,
    dOut: Mat,
    s: { qkv: Mat; T: number; nHead: number; P: Mat; work: Mat },
    acc: Acc,
  ): void {
    const { T, nHead, P, work } = s;
    const C = dOut.cols;
    const B = s.qkv.rows / T;
    this.byLines("attentionBackward", B, T, 2 * B * T * T * C, (b, lines, part) => [
      ...[lines, T, C, nHead, s.qkv.at + 4 * b * T * 3 * C, P.at + 4 * P.cols * b * nHead * T],
      ...[dOut.at + 4 * b * T * C, dqkv.at + 4 * b * T * 3 * C, acc, work.at + 4 * part * work.cols],
    ]);
  }

  // ---------------------------------------------------------------------------
  // the steps of makemore.py's recurrent cells (B lines at once; rows of a step side by side)

  /** RNN step: hn [B, H] = tanh(G [B, H]). */
  rnnForwardStep(hn: Mat, G: Mat): void {
    this.k.rnnForwardStep(hn.rows, hn.cols, G.at, hn.at);
  }

  /** RNN step backward: dG = (dOut + dn) (1 - h²). */
  rnnBackwardStep(dG: Mat, h: Mat, dOut: Mat, dn: Mat): void {
    this.k.rnnBackwardStep(h.rows, h.cols, h.at, dOut.at, dOut.ld, dn.at, dG.at);
  }

  /** GRU step: z, r = σ in place in G [B, 3H]; rh = r ∘ hp. */
  gruGatesStep(G: Mat, hp: Mat, rh: Mat): void {
    this.k.gruGatesStep(hp.rows, hp.cols, G.at, hp.at, rh.at);
  }

  /** GRU step: h̄ = tanh in place in G; hn = hp + z (h̄ - hp). */
  gruForwardStep(hn: Mat, G: Mat, hp: Mat): void {
    this.k.gruForwardStep(hp.rows, hp.cols, G.at, hp.at, hn.at);
  }

  /** GRU step backward: dA_z, dA_h̄ into dG; dn = dh (1 - z) with dh = dOut + dn. */
  gruBackwardStep(dG: Mat, G: Mat, hp: Mat, dOut: Mat, dn: Mat): void {
    this.k.gruBackwardStep(hp.rows, hp.cols, G.at, hp.at, dOut.at, dOut.ld, dn.at, dG.at);
  }

  /** GRU step backward: dA_r from drh (the gradient of r ∘ hp) into dG; dn += drh r. */
  gruResetBackward(dG: Mat, G: Mat, hp: Mat, drh: Mat, dn: Mat): void {
    this.k.gruResetBackward(hp.rows, hp.cols, G.at, hp.at, drh.at, dn.at, dG.at);
  }

  // ---------------------------------------------------------------------------
  // losses and updates

  /** Mean cross-entropy of logits [M, V] against int32 targets [M]; writes its gradient to dLogits. */
  crossEntropy(dLogits: Mat, logits: Mat, targets: Mat): number {
    return this.k.crossEntropy(logits.rows, logits.cols, logits.at, targets.at, dLogits.at);
  }

  /**
   * Summed cross-entropy of logits [M, V] against targets [M], -1 counting for nothing; dLogits =
   * scale · its gradient. Split by rows, each row's loss written to losses [M], then summed here
   * in row order: the bits of one call.
   */
  seqCrossEntropy(dLogits: Mat, logits: Mat, targets: Mat, scale: number, losses: Mat): number {
    const V = logits.cols;
    this.byRows("seqCrossEntropy", logits.rows, EXP_WORK * size(logits), (i, rows) => {
      const o = 4 * i * V;
      return [rows, V, logits.at + o, targets.at + 4 * i, dLogits.at + o, scale, losses.at + 4 * i];
    });
    return this.k.sumFloats(logits.rows, losses.at);
  }

  /** coef · mean(p²); adds its gradient 2 coef p / n to dp. */
  l2Penalty(dp: Mat, p: Mat, coef: number): number {
    return this.k.l2Penalty(size(p), coef, p.at, dp.at);
  }

  /** p -= lr · dp */
  sgdUpdate(p: Mat, dp: Mat, lr: number): void {
    this.split("sgdUpdate", size(p), 16, VALUE_WORK * size(p), (i, n) => [n, lr, dp.at + 4 * i, p.at + 4 * i]);
  }

  /** One AdamW step of p from dp with the moments m, v (all the same layout). */
  adamwUpdate(p: Mat, dp: Mat, m: Mat, v: Mat, c: AdamWStep): void {
    // each value on its own, in float64 with a division and a square root: 0.8 ms for the transformer's 204,544
    const step = [c.decay, c.beta1, c.keep1, c.beta2, c.keep2, c.stepSize, c.bc2Sqrt, c.eps];
    this.split("adamwUpdate", size(p), 16, VALUE_WORK * size(p), (i, n) => {
      const o = 4 * i;
      return [n, p.at + o, dp.at + o, m.at + o, v.at + o, ...step];
    });
  }
}

/** Refuses a product C [M, N] = [rows, cols] · B whose shapes do not chain (kept out of the wrappers, which stay small). */
function badProduct(C: Mat, rows: number, cols: number, B: Mat): never {
  throw new Error(`matmul: [${C.rows}, ${C.cols}] from [${rows}, ${cols}] · [${B.rows}, ${B.cols}]`);
}
