/**
 * The pieces makemore.py's models share: torch's default initializations
 * and named parameters (so a test can load PyTorch's state_dict into a model).
 *
 * Linear weights are stored as [fanIn, fanOut] (x @ W), the transpose of
 * torch's [out, in], like every other layer of the lib.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initRandn, variableOf } from "../nn/layers";
import type { LinearParams, Ops } from "../nn/ops-interface";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import { eagerLogits, type OpsModel, type SequenceModel } from "./model";

/** A model whose variables carry makemore.py's state_dict names. */
export interface NamedParameters {
  /** every trainable variable with its PyTorch name, in the order of `parameters()` */
  namedParameters(): [string, tfjs.Variable][];
}

/** Whether a model exposes its parameters by name. */
export function hasNamedParameters(model: object): model is NamedParameters {
  return typeof (model as Partial<NamedParameters>).namedParameters === "function";
}

/** Uniform draws in [-bound, bound): `torch.empty(shape).uniform_(-bound, bound)`. */
export function initUniform(shape: readonly number[], g: Generator, bound: number): tfjs.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = (2 * g.random() - 1) * bound;
  return tf.tensor(values, [...shape], "float32");
}

/** A gain and a shift (`nn.LayerNorm`'s weight and bias), in the shape of {@link LinearParams}. */
export type NormParams = LinearParams & { b: tfjs.Variable };

/**
 * The ordered, named variables of one model. Each `add*` draws like torch's
 * default init of that module, so a model's numbers have torch's scale.
 */
export class ParameterSet implements NamedParameters {
  private readonly entries: [string, tfjs.Variable][] = [];

  constructor(private readonly g: Generator) {}

  /** A variable made by `make` under `name`. */
  add(name: string, make: () => tfjs.Tensor): tfjs.Variable {
    const v = variableOf(make);
    this.entries.push([name, v]);
    return v;
  }

  /** `nn.Embedding(rows, dim)`: standard normal rows. */
  embedding(name: string, rows: number, dim: number): tfjs.Variable {
    return this.add(name, () => initRandn([rows, dim], this.g));
  }

  /** `nn.Linear(fanIn, fanOut, bias)`: weight and bias uniform in ±1/√fanIn (kaiming_uniform with a = √5). */
  linear(name: string, fanIn: number, fanOut: number, bias = true): LinearParams {
    const bound = 1 / Math.sqrt(fanIn);
    const W = this.add(`${name}.weight`, () => initUniform([fanIn, fanOut], this.g, bound));
    const b = bias ? this.add(`${name}.bias`, () => initUniform([fanOut], this.g, bound)) : null;
    return { W, b };
  }

  /** `nn.LayerNorm(dim)`: gain ones, shift zeros. */
  layerNorm(name: string, dim: number): NormParams {
    return { W: this.add(`${name}.weight`, () => tf.ones([dim])), b: this.add(`${name}.bias`, () => tf.zeros([dim])) };
  }

  namedParameters(): [string, tfjs.Variable][] {
    return [...this.entries];
  }

  /** The variables in order. */
  variables(): tfjs.Variable[] {
    return this.entries.map(([, v]) => v);
  }

  /** Frees every variable. */
  dispose(): void {
    this.entries.forEach(([, v]) => v.dispose());
  }
}

/**
 * What makemore.py's models have in common around their forward pass: they
 * read whole lines, and their variables live in one {@link ParameterSet}
 * (drawn from a generator seeded with `seed`) that lists, names and frees them.
 */
export abstract class ParameterModel implements SequenceModel, NamedParameters, OpsModel {
  readonly examples = "sequence";
  protected readonly params: ParameterSet;

  constructor(
    readonly blockSize: number,
    readonly vocabSize: number,
    seed: number,
  ) {
    this.params = new ParameterSet(new Generator(seed));
  }

  parameters(): tfjs.Variable[] {
    return this.params.variables();
  }

  namedParameters(): [string, tfjs.Variable][] {
    return this.params.namedParameters();
  }

  /** the forward pass over any ops: logits [B, T, vocab] (eager) or [B·T, vocab] (the fused graph) */
  abstract logits<V>(o: Ops<V>): V;

  /** logits [B, T, vocab] for int32 inputs [B, T]: {@link ParameterModel.logits} on the eager ops */
  forward(X: tfjs.Tensor2D, training = false): tfjs.Tensor3D {
    return eagerLogits(this, X, training);
  }

  dispose(): void {
    this.params.dispose();
  }
}
