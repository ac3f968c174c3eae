/**
 * The graph recorder: the {@link Ops} a model's `logits(o)` runs on to be
 * recorded as a fused graph. Each op is one graph op of the files beside
 * this one (graph-ops.ts, graph-norm.ts, graph-transformer.ts,
 * graph-recurrent.ts, graph-window.ts) on the parameters' nodes.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { BatchNormState, Cell, LinearParams, Ops, Window } from "../nn/ops-interface";
import { GraphBuilder, type GraphNode } from "./graph";
import { add, addPositions, causalMean, embed, flatten, linear, tanh } from "./graph-ops";
import { batchNorm, layerNorm } from "./graph-norm";
import { recurrence } from "./graph-recurrent";
import { causalSelfAttention, gelu } from "./graph-transformer";
import { windowLinear } from "./graph-window";

/** {@link Ops} over graph nodes [rows, cols]: [B, T, C] values are [B·T, C]. */
export class GraphRecorder extends GraphBuilder implements Ops<GraphNode> {
  embed(table: tfjs.Variable, ids: GraphNode = this.tokens): GraphNode {
    return embed(this, this.param(table), ids);
  }

  positions(x: GraphNode, table: tfjs.Variable): GraphNode {
    return addPositions(this, x, this.param(table));
  }

  linear(x: GraphNode, W: tfjs.Variable, b: tfjs.Variable | null): GraphNode {
    return linear(this, x, this.param(W), this.optional(b));
  }

  add(a: GraphNode, b: GraphNode): GraphNode {
    return add(this, a, b);
  }

  tanh(x: GraphNode): GraphNode {
    return tanh(this, x);
  }

  gelu(x: GraphNode): GraphNode {
    return gelu(this, x);
  }

  layerNorm(x: GraphNode, gain: tfjs.Variable, shift: tfjs.Variable): GraphNode {
    return layerNorm(this, x, this.param(gain), this.param(shift));
  }

  attention(x: GraphNode, cAttn: LinearParams, nHead: number): GraphNode {
    return causalSelfAttention(this, this.linear(x, cAttn.W, cAttn.b), nHead);
  }

  causalMean(x: GraphNode): GraphNode {
    return causalMean(this, x);
  }

  recurrence(cell: Cell, table: tfjs.Variable, start: tfjs.Variable, gates: readonly LinearParams[]): GraphNode {
    const nodes = gates.map((l) => ({ W: this.param(l.W), b: this.param(l.b as tfjs.Variable) }));
    return recurrence(this, cell, this.param(table), this.param(start), nodes);
  }

  windowLinear(table: tfjs.Variable, W: tfjs.Variable, b: tfjs.Variable | null, window: Window): GraphNode {
    return windowLinear(this, this.param(table), this.param(W), this.optional(b), window);
  }

  flatten(x: GraphNode, n?: number): GraphNode {
    return flatten(this, x, n);
  }

  batchNorm(x: GraphNode, bn: BatchNormState): GraphNode {
    return batchNorm(this, x, bn);
  }

  private optional(v: tfjs.Variable | null): GraphNode | null {
    return v ? this.param(v) : null;
  }
}
