/**
 * The pieces makemore.py's models share: torch's default initializations,
 * named parameters (so a test can load PyTorch's state_dict into a model),
 * `nn.Linear` over every position, `nn.LayerNorm`, the tanh GELU and the
 * lower-triangular masks of attention and the bag of words.
 *
 * Linear weights are stored as [fanIn, fanOut] (x @ W), the transpose of
 * torch's [out, in], like every other layer of the lib.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { initRandn, linear, variableOf } from "../nn/layers";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import type { SequenceModel } from "./model";

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

/** A weight and an optional bias, as `nn.Linear` holds them (W transposed: [fanIn, fanOut]). */
export interface LinearParams {
  /** [fanIn, fanOut] */
  W: tfjs.Variable;
  /** [fanOut], or null without bias */
  b: tfjs.Variable | null;
}

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
  layerNorm(name: string, dim: number): LinearParams {
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

/** `nn.Linear` at every position: x [..., fanIn] -> [..., fanOut], one matrix product over all rows. */
export function linearAll(x: tfjs.Tensor, p: LinearParams): tfjs.Tensor {
  const fanIn = x.shape[x.shape.length - 1] as number;
  const W = p.W as tfjs.Tensor2D;
  const y = linear(x.reshape([-1, fanIn]) as tfjs.Tensor2D, W, p.b as tfjs.Tensor1D | null); // [rows, fanOut]
  return y.reshape([...x.shape.slice(0, -1), W.shape[1]]);
}

/** `nn.LayerNorm` over the last axis (biased variance, eps 1e-5, as torch). */
export function layerNorm(x: tfjs.Tensor, p: LinearParams, eps = 1e-5): tfjs.Tensor {
  const axis = x.shape.length - 1;
  const { mean, variance } = tf.moments(x, axis, true); // [..., 1] each
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, p.W), p.b as tfjs.Variable);
}

/** makemore.py's NewGELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function newGelu(x: tfjs.Tensor): tfjs.Tensor {
  const cube = tf.mul(tf.mul(x, x), x); // x*x*x: tf.pow's gradient also differentiates the exponent
  const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * The causal mask as an additive constant [n, n]: 0 where column ≤ row, -∞
 * above the diagonal (masked_fill(tril == 0, -inf) before a softmax).
 */
export function causalMask(n: number): tfjs.Tensor2D {
  const values = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) values[i * n + j] = -Infinity;
  return tf.tensor2d(values, [n, n]);
}

/** The top-left [T, T] corner of a square constant (the whole tensor when T is its size). */
export function corner(m: tfjs.Tensor2D, T: number): tfjs.Tensor2D {
  return T === m.shape[0] ? m : m.slice([0, 0], [T, T]);
}

/**
 * What makemore.py's models have in common around their forward pass: they
 * read whole lines, and their variables live in one {@link ParameterSet}
 * (drawn from a generator seeded with `seed`) that lists, names and frees them.
 */
export abstract class ParameterModel implements SequenceModel, NamedParameters {
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

  abstract forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor3D;

  dispose(): void {
    this.params.dispose();
  }
}
