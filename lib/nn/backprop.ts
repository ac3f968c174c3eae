/**
 * Lecture 4's exercise network, with its backward pass written by hand:
 *
 *     emb = C[X]                           [B, T, nEmbd]
 *     embcat = emb.view(B, -1)             [B, T·nEmbd]
 *     hprebn = embcat @ W1 + b1            [B, nHidden]
 *     hpreact = bngain · bnraw + bnbias    (batch norm with the n - 1 variance)
 *     h = tanh(hpreact)                    [B, nHidden]
 *     logits = h @ W2 + b2                 [B, vocab]
 *     loss = cross-entropy(logits, Y)      (written out: maxes, exp, sums, log)
 *
 * {@link exerciseForward} runs it in the lecture's small steps and keeps every
 * intermediate; {@link autodiffGradients} asks tfjs for the gradient of each one;
 * {@link exerciseBackward} computes the parameter gradients by hand with the
 * fused forms (cross-entropy and batch norm each in one expression), the ones
 * the fused engine's kernels use; {@link compareGradient} prints a comparison
 * the way the lecture's `cmp` does.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { oneHotFloat } from "./ops";
import { TorchGenerator } from "../random/torch";
import { LECTURE_SEED } from "../random/seeds";
import { tf } from "../runtime/tf";

/** The parameters of the exercise network (`bngain` and `bnbias` are [1, nHidden], as in the lecture). */
export interface ExerciseParams {
  C: tfjs.Variable;
  W1: tfjs.Variable;
  b1: tfjs.Variable;
  W2: tfjs.Variable;
  b2: tfjs.Variable;
  bngain: tfjs.Variable;
  bnbias: tfjs.Variable;
}

/** The names of {@link ExerciseParams}, in the lecture's `parameters` order. */
export const EXERCISE_PARAM_NAMES = ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias"] as const;

/** Sizes of the exercise network. */
export interface ExerciseShape {
  /** vocabulary (27) */
  vocabSize?: number;
  /** characters of context (3) */
  blockSize?: number;
  /** embedding dimension (10) */
  nEmbd?: number;
  /** hidden units (64 for the exercises, 200 for the training run) */
  nHidden?: number;
}

/**
 * The lecture's initialization: C, W1 (Kaiming for tanh), b1, W2, b2 (small,
 * and not zero, so that a wrong gradient cannot hide behind a zero) from `g`,
 * a TorchGenerator seeded 2147483647 unless given (pass one to keep drawing
 * the lecture's minibatches from it); bngain and bnbias from a fresh, unseeded
 * one, as the lecture draws them from torch's global generator.
 */
export function exerciseParams(
  shape: ExerciseShape = {},
  g: TorchGenerator = new TorchGenerator(LECTURE_SEED),
): ExerciseParams {
  const { vocabSize = 27, blockSize = 3, nEmbd = 10, nHidden = 64 } = shape;
  const global = new TorchGenerator();
  const draw = (gen: TorchGenerator, dims: number[], scale: number, shift = 0): tfjs.Variable =>
    tf.tidy(() => {
      const n = dims.reduce((a, b) => a * b, 1);
      return tf.variable(tf.add(tf.mul(tf.tensor(gen.randnArray(n), dims), scale), shift));
    });
  const fanIn = nEmbd * blockSize;
  return {
    C: draw(g, [vocabSize, nEmbd], 1),
    W1: draw(g, [fanIn, nHidden], 5 / 3 / Math.sqrt(fanIn)),
    b1: draw(g, [nHidden], 0.1),
    W2: draw(g, [nHidden, vocabSize], 0.1),
    b2: draw(g, [vocabSize], 0.1),
    bngain: draw(global, [1, nHidden], 0.1, 1),
    bnbias: draw(global, [1, nHidden], 0.1),
  };
}

/** The parameters as a list, in the lecture's order. */
export function exerciseParamList(p: ExerciseParams): tfjs.Variable[] {
  return EXERCISE_PARAM_NAMES.map((name) => p[name]);
}

/** The intermediates of the forward pass, named like the lecture's (in camelCase), in the order they are made. */
export const EXERCISE_STEPS = [
  "emb",
  "embcat",
  "hprebn",
  "bnmeani",
  "bndiff",
  "bndiff2",
  "bnvar",
  "bnvarInv",
  "bnraw",
  "hpreact",
  "h",
  "logits",
  "logitMaxes",
  "normLogits",
  "counts",
  "countsSum",
  "countsSumInv",
  "probs",
  "logprobs",
] as const;

/** The name of one intermediate. */
export type ExerciseStep = (typeof EXERCISE_STEPS)[number];

/** Every intermediate of one forward pass, and the loss. */
export type ExerciseForward = Record<ExerciseStep, tfjs.Tensor> & { loss: tfjs.Scalar };

/**
 * The forward pass in the lecture's small steps. `probes`, when given, adds a
 * zero tensor to some intermediates: the gradient with respect to a probe is
 * the gradient with respect to that intermediate (the lecture's `retain_grad`).
 */
export function exerciseForward(
  p: ExerciseParams,
  X: tfjs.Tensor2D,
  Y: tfjs.Tensor1D,
  probes: Partial<Record<ExerciseStep, tfjs.Tensor>> = {},
): ExerciseForward {
  const n = X.shape[0];
  const out: Partial<ExerciseForward> = {};
  const keep = (name: ExerciseStep, t: tfjs.Tensor): tfjs.Tensor => {
    const probe = probes[name];
    out[name] = probe ? tf.add(t, probe) : t;
    return out[name] as tfjs.Tensor;
  };
  // C[X] as a one-hot product, so that autodiff needs no scatter kernel (the wasm backend has none)
  const [vocab, nEmbd] = p.C.shape as [number, number];
  const lookup = tf.matMul(oneHotFloat(X.reshape([-1]) as tfjs.Tensor1D, vocab), p.C as tfjs.Tensor2D);
  const emb = keep("emb", lookup.reshape([n, X.shape[1], nEmbd])); // [n, T, nEmbd]
  const embcat = keep("embcat", emb.reshape([n, -1]));
  const hprebn = keep("hprebn", tf.add(tf.matMul(embcat as tfjs.Tensor2D, p.W1 as tfjs.Tensor2D), p.b1));
  const bnmeani = keep("bnmeani", tf.mul(1 / n, tf.sum(hprebn, 0, true))); // [1, nHidden]
  const bndiff = keep("bndiff", tf.sub(hprebn, bnmeani));
  const bndiff2 = keep("bndiff2", tf.square(bndiff));
  const bnvar = keep("bnvar", tf.mul(1 / (n - 1), tf.sum(bndiff2, 0, true))); // Bessel's n - 1
  const bnvarInv = keep("bnvarInv", tf.pow(tf.add(bnvar, 1e-5), -0.5));
  const bnraw = keep("bnraw", tf.mul(bndiff, bnvarInv));
  const hpreact = keep("hpreact", tf.add(tf.mul(p.bngain, bnraw), p.bnbias));
  const h = keep("h", tf.tanh(hpreact));
  const logits = keep("logits", tf.add(tf.matMul(h as tfjs.Tensor2D, p.W2 as tfjs.Tensor2D), p.b2));
  const logitMaxes = keep("logitMaxes", tf.max(logits, 1, true)); // for numerical stability only
  const normLogits = keep("normLogits", tf.sub(logits, logitMaxes));
  const counts = keep("counts", tf.exp(normLogits));
  const countsSum = keep("countsSum", tf.sum(counts, 1, true));
  const countsSumInv = keep("countsSumInv", tf.pow(countsSum, -1));
  const probs = keep("probs", tf.mul(counts, countsSumInv));
  const logprobs = keep("logprobs", tf.log(probs));
  const picked = tf.sum(tf.mul(logprobs, oneHotFloat(Y, logprobs.shape[1] as number)), 1); // logprobs[range(n), Y]
  out.loss = tf.neg(tf.mean(picked)) as tfjs.Scalar;
  return out as ExerciseForward;
}

/** Gradients by name: intermediates and parameters. */
export type GradientMap = Map<string, tfjs.Tensor>;

/**
 * The gradient of the loss with respect to every intermediate and every
 * parameter, from tfjs's automatic differentiation (the reference the hand
 * derivations are checked against). Call inside `tf.tidy`, or dispose the tensors.
 */
export function autodiffGradients(p: ExerciseParams, X: tfjs.Tensor2D, Y: tfjs.Tensor1D): GradientMap {
  const shapes = tf.tidy(() => {
    const f = exerciseForward(p, X, Y);
    return EXERCISE_STEPS.map((s) => f[s].shape);
  });
  const params = exerciseParamList(p);
  const probes = shapes.map((shape) => tf.zeros(shape));
  const lossOf = (...xs: tfjs.Tensor[]): tfjs.Tensor => {
    const named: Partial<Record<ExerciseStep, tfjs.Tensor>> = {};
    EXERCISE_STEPS.forEach((s, i) => (named[s] = xs[i] as tfjs.Tensor));
    const q = Object.fromEntries(EXERCISE_PARAM_NAMES.map((k, i) => [k, xs[EXERCISE_STEPS.length + i]]));
    return exerciseForward(q as unknown as ExerciseParams, X, Y, named).loss;
  };
  const grads = tf.grads(lossOf)([...probes, ...params]);
  tf.dispose(probes);
  const names = [...EXERCISE_STEPS, ...EXERCISE_PARAM_NAMES];
  return new Map(names.map((name, i) => [name, grads[i] as tfjs.Tensor]));
}

/**
 * The cross-entropy's backward pass in one expression:
 * dlogits = (softmax(logits) - onehot(Y)) / n.
 */
export function crossEntropyBackward(logits: tfjs.Tensor2D, Y: tfjs.Tensor1D): tfjs.Tensor2D {
  const [n, vocab] = logits.shape;
  return tf.div(tf.sub(tf.softmax(logits), oneHotFloat(Y, vocab)), n);
}

/**
 * Batch norm's backward pass in one expression, for the n - 1 variance:
 * dx = gain · invStd / n · (n·dy - Σdy - n/(n-1) · xhat · Σ(dy · xhat)),
 * sums over the batch. dy [n, d], xhat [n, d], gain and invStd [1, d].
 */
export function batchNormBackward(
  dy: tfjs.Tensor,
  xhat: tfjs.Tensor,
  gain: tfjs.Tensor,
  invStd: tfjs.Tensor,
): tfjs.Tensor {
  const n = dy.shape[0] as number;
  const sumDy = tf.sum(dy, 0, true);
  const sumDyX = tf.sum(tf.mul(dy, xhat), 0, true);
  const inner = tf.sub(tf.sub(tf.mul(dy, n), sumDy), tf.mul(tf.mul(xhat, sumDyX), n / (n - 1)));
  return tf.mul(tf.div(tf.mul(gain, invStd), n), inner);
}

/**
 * Every parameter's gradient by hand, from a forward pass: the fused
 * cross-entropy and batch-norm forms, and the chain rule through the linear
 * layers, the tanh and the embedding lookup. Call inside `tf.tidy`.
 */
export function exerciseBackward(
  p: ExerciseParams,
  f: ExerciseForward,
  X: tfjs.Tensor2D,
  Y: tfjs.Tensor1D,
): Record<(typeof EXERCISE_PARAM_NAMES)[number], tfjs.Tensor> {
  const dlogits = crossEntropyBackward(f.logits as tfjs.Tensor2D, Y);
  const dh = tf.matMul(dlogits, p.W2 as tfjs.Tensor2D, false, true);
  const dW2 = tf.matMul(f.h as tfjs.Tensor2D, dlogits, true, false);
  const dhpreact = tf.mul(tf.sub(1, tf.square(f.h)), dh); // tanh' = 1 - h²
  const dbngain = tf.sum(tf.mul(f.bnraw, dhpreact), 0, true);
  const dhprebn = batchNormBackward(dhpreact, f.bnraw, p.bngain, f.bnvarInv);
  const dW1 = tf.matMul(f.embcat as tfjs.Tensor2D, dhprebn as tfjs.Tensor2D, true, false);
  const demb = tf.matMul(dhprebn as tfjs.Tensor2D, p.W1 as tfjs.Tensor2D, false, true); // dembcat, [n, T·nEmbd]
  const [vocab, nEmbd] = p.C.shape as [number, number];
  const rows = oneHotFloat(X.reshape([-1]) as tfjs.Tensor1D, vocab); // [n·T, vocab]: which row each lookup read
  const dC = tf.matMul(rows, demb.reshape([-1, nEmbd]) as tfjs.Tensor2D, true, false);
  return {
    C: dC,
    W1: dW1,
    b1: tf.sum(dhprebn, 0),
    W2: dW2,
    b2: tf.sum(dlogits, 0),
    bngain: dbngain,
    bnbias: tf.sum(dhpreact, 0, true),
  };
}

/**
 * One SGD step with the hand-written backward pass only (no tape): forward,
 * {@link exerciseBackward}, `p -= lr · grad`. Returns the loss before the
 * update (a scalar tensor the caller disposes).
 */
export function exerciseStep(p: ExerciseParams, X: tfjs.Tensor2D, Y: tfjs.Tensor1D, lr: number): tfjs.Scalar {
  return tf.tidy(() => {
    const f = exerciseForward(p, X, Y);
    const grads = exerciseBackward(p, f, X, Y);
    for (const name of EXERCISE_PARAM_NAMES) p[name].assign(tf.sub(p[name], tf.mul(grads[name], lr)));
    return f.loss;
  });
}

/** How a hand-derived gradient compares with autodiff's (the lecture's `cmp`). */
export interface GradientComparison {
  /** the tensor the gradient belongs to */
  name: string;
  /** every element equal */
  exact: boolean;
  /** `torch.allclose`: |a - b| ≤ 1e-8 + 1e-5 · |b| everywhere */
  approximate: boolean;
  /** largest |a - b| */
  maxDiff: number;
}

/** Compares a hand-derived gradient with the autodiff one (shapes must agree). */
export function compareGradient(name: string, manual: tfjs.Tensor, auto: tfjs.Tensor): GradientComparison {
  if (manual.shape.join() !== auto.shape.join()) {
    throw new RangeError(`${name}: shape [${manual.shape.join(", ")}] against [${auto.shape.join(", ")}]`);
  }
  const [exact, approximate, maxDiff] = tf.tidy(() => {
    const diff = tf.abs(tf.sub(manual, auto));
    const tolerance = tf.add(1e-8, tf.mul(1e-5, tf.abs(auto)));
    return [tf.all(tf.equal(manual, auto)), tf.all(tf.lessEqual(diff, tolerance)), tf.max(diff)].map(
      (t) => t.dataSync()[0] as number,
    );
  }) as [number, number, number];
  return { name, exact: exact === 1, approximate: approximate === 1, maxDiff };
}

/** One comparison as the lecture prints it: `name | exact: false | approximate: true | maxdiff: 1.2e-9`. */
export function formatComparison(c: GradientComparison): string {
  const diff = c.maxDiff === 0 ? "0" : c.maxDiff.toExponential(1);
  return `${c.name.padEnd(14)} | exact: ${String(c.exact).padEnd(5)} | approximate: ${String(c.approximate).padEnd(5)} | maxdiff: ${diff}`;
}
