/**
 * Fused graphs: a model's forward pass (its `logits(o)`, written over the ops
 * of lib/nn/ops-interface.ts) recorded as a fixed list of coarse ops over the
 * kernels' memory, in place of one tfjs op per line of the model.
 *
 * While the model runs its `logits` on the recorder (graph-recorder.ts),
 * each op lays out its output (a {@link GraphNode}) and whatever it keeps
 * for its backward pass with this builder, and is recorded as a
 * {@link GraphOp}: its forward and backward passes as kernel calls. A
 * `GraphNet` (graph-net.ts) then runs the ops forward, the loss, and the
 * ops' backward passes in reverse: the hand-derived gradient of every parameter.
 *
 * Gradients flow by accumulation: a value read by several ops (the residual
 * stream) gets the sum of their gradients. The first op to write a gradient
 * in a backward pass writes it, the others add to it ({@link Backward.acc}),
 * so no gradient buffer needs clearing.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { mat, Mat, type KernelCalls } from "./kernel-calls";

/** A value of the graph: a [rows, cols] matrix in kernel memory, and where its gradient goes. */
export class GraphNode extends Mat {
  constructor(
    /** which value for the gradient bookkeeping (a view of a value shares its id) */
    readonly id: number,
    at: number,
    /** byte offset of the gradient, or -1 when nothing needs it (evaluation, the tokens) */
    readonly grad: number,
    rows: number,
    cols: number,
  ) {
    super(at, rows, cols);
  }
}

/** The gradient of a node, as a matrix of its shape. */
export function gradOf(n: GraphNode): Mat {
  return mat(n.grad, n.rows, n.cols);
}

/** What an op's backward pass is given besides the kernels. */
export interface Backward {
  /**
   * Whether a gradient is added to (1) or written (0): 0 for the first op to
   * write `node`'s gradient in this backward pass, 1 after it.
   */
  acc(node: GraphNode): 0 | 1;
}

/** One recorded op: its forward and backward passes as kernel calls. */
export interface GraphOp {
  /** for profiles: "linear", "attention", ... */
  readonly name: string;
  forward(k: KernelCalls): void;
  /** absent for ops with nothing to send back (evaluation graphs have no backward) */
  backward?(k: KernelCalls, b: Backward): void;
}

/** A tfjs variable's place in kernel memory. */
export interface Slot {
  v: tfjs.Variable;
  node: GraphNode;
}

/**
 * Lays out a graph while a model records its ops. Parameters come first,
 * contiguous, then their gradients (so one kernel call updates them all);
 * then the tokens; then each op's buffers in the order the model calls them,
 * and the running statistics where an op first asks for them.
 */
export class GraphBuilder {
  /** the input tokens, int32 [batch, time] */
  readonly tokens: GraphNode;
  readonly ops: GraphOp[] = [];
  /** the parameters' contiguous area (padding included) and its gradients' (grad -1: none) */
  readonly paramArea: { values: Mat; grad: number };
  private readonly params: Slot[];
  private readonly states: Slot[] = [];
  private nextId = 0;

  /**
   * @param batch - examples (lines or context windows) per step
   * @param time - tokens per example
   * @param alloc - returns the byte offset of `count` new zeroed 4-byte values
   * @param params - the model's parameters, in the order the optimizer sees them
   * @param training - false lays out no gradients (evaluation)
   * @param threads - threads the kernel calls are split over (ops lay out a scratch per thread where they need one)
   */
  constructor(
    readonly batch: number,
    readonly time: number,
    readonly alloc: (count: number) => number,
    params: readonly tfjs.Variable[],
    readonly training: boolean,
    readonly threads = 1,
  ) {
    const padded = params.map((p) => Math.ceil(p.size / 16) * 16);
    const count = padded.reduce((a, b) => a + b, 0);
    const at = alloc(count);
    const grad = training ? alloc(count) : -1;
    this.paramArea = { values: mat(at, 1, count), grad };
    let off = 0;
    this.params = params.map((v, i) => {
      const node = this.node(at + off * 4, grad < 0 ? -1 : grad + off * 4, ...matrixShape(v));
      off += padded[i] as number;
      return { v, node };
    });
    this.tokens = this.node(alloc(batch * time), -1, batch, time);
  }

  /** The node of a parameter (a 1-D one is one row). */
  param(v: tfjs.Variable): GraphNode {
    const slot = this.params.find((s) => s.v === v);
    if (!slot) throw new Error(`fused graph: ${v.name} is not one of the model's parameters`);
    return slot.node;
  }

  /** The node of a state variable that training changes (running statistics), laid out at its first use. */
  state(v: tfjs.Variable): GraphNode {
    const slot = this.states.find((s) => s.v === v);
    if (slot) return slot.node;
    const node = this.node(this.alloc(v.size), -1, ...matrixShape(v));
    this.states.push({ v, node });
    return node;
  }

  /** A new value [rows, cols], with a gradient when training. */
  value(rows: number, cols: number): GraphNode {
    const at = this.alloc(rows * cols);
    return this.node(at, this.training ? this.alloc(rows * cols) : -1, rows, cols);
  }

  /** `x`'s values and gradient read as [rows, cols] (a reshape: no copy, the same node for the bookkeeping). */
  view(x: GraphNode, rows: number, cols: number): GraphNode {
    if (rows * cols !== x.rows * x.cols)
      throw new Error(`fused graph: [${x.rows}, ${x.cols}] viewed as [${rows}, ${cols}]`);
    return new GraphNode(x.id, x.at, x.grad, rows, cols);
  }

  /** Scratch space of rows × cols values for an op's own use. */
  scratch(rows: number, cols = 1): Mat {
    return mat(this.alloc(rows * cols), rows, cols);
  }

  /** Records an op. */
  push(op: GraphOp): void {
    this.ops.push(op);
  }

  /** The parameters in layout order, with their nodes. */
  parameters(): readonly Slot[] {
    return this.params;
  }

  /** The state variables (running statistics) the ops laid out. */
  stateSlots(): readonly Slot[] {
    return this.states;
  }

  /** Nodes made so far (ids are below this). */
  get nodeCount(): number {
    return this.nextId;
  }

  private node(at: number, grad: number, rows: number, cols: number): GraphNode {
    return new GraphNode(this.nextId++, at, grad, rows, cols);
  }
}

/** A variable as a matrix: its last axis the columns, the others folded into rows. */
function matrixShape(v: tfjs.Variable): [number, number] {
  const cols = v.rank === 0 ? 1 : (v.shape[v.rank - 1] as number);
  return [v.size / cols, cols];
}
