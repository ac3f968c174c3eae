/**
 * Lecture 3's second exercise (notebook 05): after training, fold each batch
 * norm into the Linear layer before it. In evaluation mode batch norm is a
 * fixed affine map per feature, `y = gamma · (x − mean) / sqrt(var + eps) + beta`,
 * so `Linear → BatchNorm1d` equals one Linear with rescaled weights and a new
 * bias. The check folds layers whose every statistic is random, compares the
 * outputs, and names the usual slips by the outputs they would give; given a
 * trained `DeepMLP`, it folds all its pairs and compares the logits.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { DeepMLP } from "../models/deep";
import { BatchNorm1d, Linear, runLayers, type Layer } from "../nn/layers";
import { Generator } from "../random/generator";
import { tf } from "../runtime/tf";
import { lossOn } from "./challenge";
import { contextsOf } from "./data";
import {
  AnswerError,
  callAnswer,
  checkTensor,
  correct,
  count,
  defineCheck,
  fmt,
  incorrect,
  inScope,
  percent,
  shapeText,
  type Exercise,
  type Judgement,
} from "./check";

/** Exercise 3.2. */
export const BATCHNORM_FOLD: Exercise = { id: "3.2", title: "batch norm folded into the Linear before it" };

/** The learner's fold: a new Linear that computes what `linear` then `bn` (in evaluation mode) compute. */
export type Fold = (linear: Linear, bn: BatchNorm1d) => Linear;

/** Largest difference accepted, relative to the largest output. */
const TOLERANCE = 1e-4;
const FAN_IN = 30;
const FAN_OUT = 50;

/** A Linear and a BatchNorm1d with random weights, bias, gain, shift and running statistics. */
function randomPair(bias: boolean): { linear: Linear; bn: BatchNorm1d } {
  const g = new Generator(bias ? 31 : 32);
  const vec = (scale: number, shift = 0) => tf.tensor1d(Array.from(g.randnArray(FAN_OUT), (v) => shift + scale * v));
  const linear = new Linear(FAN_IN, FAN_OUT, { bias, generator: g });
  if (linear.bias) linear.bias.assign(vec(0.5));
  const bn = new BatchNorm1d(FAN_OUT);
  bn.gamma.assign(vec(0.3, 1));
  bn.beta.assign(vec(0.5));
  bn.runningMean.assign(vec(1));
  bn.runningVar.assign(tf.tensor1d(Array.from({ length: FAN_OUT }, () => 0.2 + 3 * g.random())));
  linear.training = bn.training = false;
  return { linear, bn };
}

/** The values of every tensor of the pair, to see whether a fold changed them. */
function snapshot(linear: Linear, bn: BatchNorm1d): Float32Array[] {
  return [...linear.parameters(), ...bn.parameters(), ...bn.buffers()].map((v) => Float32Array.from(v.dataSync()));
}

/** Outputs of the usual slips, and what each one forgot. */
function slips(linear: Linear, bn: BatchNorm1d, x: tfjs.Tensor2D): { out: tfjs.Tensor; hint: string }[] {
  const W = linear.weight;
  const b = linear.bias ?? tf.zeros([FAN_OUT]);
  const { gamma, beta, runningMean: mean, runningVar: variance, eps } = bn;
  const std = tf.sqrt(tf.add(variance, eps));
  const affine = (scale: tfjs.Tensor, bias: tfjs.Tensor) => tf.add(tf.matMul(x, tf.mul(W, scale)), bias);
  const s = tf.div(gamma, std);
  return [
    { out: affine(s, tf.mul(tf.sub(b, mean), s)), hint: "the shift beta is missing from the new bias" },
    { out: affine(s, tf.add(tf.mul(b, s), beta)), hint: "the running mean must come off before the scaling" },
    { out: affine(s, tf.add(tf.sub(b, tf.mul(mean, s)), beta)), hint: "the old bias passes through the scaling too" },
    {
      out: affine(
        tf.div(gamma, tf.add(variance, eps)),
        tf.add(tf.mul(tf.sub(b, mean), tf.div(gamma, tf.add(variance, eps))), beta),
      ),
      hint: "batch norm divides by the standard deviation sqrt(var + eps), not by the variance",
    },
    { out: affine(tf.div(1, std), tf.add(tf.div(tf.sub(b, mean), std), beta)), hint: "the gain gamma multiplies too" },
  ];
}

const relativeDiff = (a: tfjs.Tensor, b: tfjs.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]!));

/** Checks what a fold returned: a Linear-like layer with weight [fanIn, fanOut] and a bias [fanOut]. */
function readFolded(value: unknown, fanIn: number, fanOut: number): Layer {
  const layer = value as { forward?: unknown; weight?: unknown; bias?: unknown } | null;
  if (!layer || typeof layer.forward !== "function") {
    throw new AnswerError(
      "fold(linear, bn) should return a Linear layer",
      "build one with new Linear(fanIn, fanOut) and assign its weight and bias",
    );
  }
  const w = layer.weight;
  if (!(w instanceof tf.Tensor) || w.shape.join(",") !== `${fanIn},${fanOut}`) {
    const got = w instanceof tf.Tensor ? shapeText(w.shape) : "missing";
    throw new AnswerError(`the folded layer's weight is ${got}; expected [${fanIn}, ${fanOut}] like the Linear's`);
  }
  if (!(layer.bias instanceof tf.Tensor)) {
    throw new AnswerError(
      "the folded layer has no bias",
      "batch norm shifts every feature: the folded Linear needs a bias",
    );
  }
  return value as Layer;
}

/** Folds one random pair with the learner's function and compares the outputs; null when right. */
function judgePair(fold: unknown, bias: boolean): Judgement | null {
  const { linear, bn } = randomPair(bias);
  const made: Layer[] = [linear, bn];
  try {
    return comparePair(fold, linear, bn, made);
  } finally {
    made.forEach((l) => l.dispose());
  }
}

function comparePair(fold: unknown, linear: Linear, bn: BatchNorm1d, made: Layer[]): Judgement | null {
  const x = tf.tensor2d(new Generator(33).randnArray(64 * FAN_IN), [64, FAN_IN]);
  const expected = bn.forward(linear.forward(x));
  const before = snapshot(linear, bn);
  const which = linear.bias ? "" : " for a Linear without bias (as in DeepMLP)";
  let folded: Layer;
  try {
    const value = callAnswer("fold(linear, bn)", fold, linear, bn);
    if (value && typeof (value as Layer).dispose === "function") made.push(value as Layer);
    folded = readFolded(value, FAN_IN, FAN_OUT);
  } catch (e) {
    throw e instanceof AnswerError && which ? new AnswerError(e.message + which, e.hint) : e;
  }
  if (snapshot(linear, bn).some((t, i) => t.some((v, j) => v !== before[i]![j]))) {
    return incorrect(
      "Your fold changed the layers it was given.",
      "build a new Linear; the unfolded network must stay as it was",
    );
  }
  folded.training = false;
  const out = checkTensor("the folded layer's output", folded.forward(x), [64, FAN_OUT], "one row per input");
  const diff = relativeDiff(out, expected);
  if (diff <= TOLERANCE) return null;
  const slip = slips(linear, bn, x).find((s) => relativeDiff(out, s.out) <= TOLERANCE);
  return incorrect(
    `The folded layer's outputs differ from Linear then BatchNorm1d (evaluation mode)${which} by up to ${percent(diff)} of the largest output.`,
    slip?.hint ?? "write batch norm in evaluation mode as x · scale + shift per feature, then put the Linear inside it",
  );
}

/** A Linear followed by a BatchNorm1d in a list of layers: the pairs to fold. */
function pairs(layers: readonly Layer[]): { linear: Linear; bn: BatchNorm1d; at: number }[] {
  return layers.flatMap((l, i) => {
    const next = layers[i + 1];
    return l instanceof Linear && next instanceof BatchNorm1d ? [{ linear: l, bn: next, at: i }] : [];
  });
}

/** Folds every pair of a trained DeepMLP and compares its logits on the val split; null when right. */
function judgeNetwork(fold: unknown, net: DeepMLP): { judgement: Judgement | null; summary: string } {
  const found = pairs(net.layers);
  const layers: Layer[] = [];
  for (let i = 0; i < net.layers.length; i++) {
    const pair = found.find((p) => p.at === i);
    if (pair)
      layers.push(
        readFolded(callAnswer("fold(linear, bn)", fold, pair.linear, pair.bn), pair.linear.fanIn, pair.linear.fanOut),
      );
    else if (!found.some((p) => p.at + 1 === i)) layers.push(net.layers[i]!);
  }
  const val = contextsOf("val", net.blockSize);
  const rows = Math.min(2048, val.n);
  const X = tf.tensor2d(val.X.subarray(0, rows * net.blockSize), [rows, net.blockSize], "int32");
  const unfolded = net.forward(X, false);
  layers.forEach((l) => (l.training = false));
  const logits = runLayers(layers, net.flatten.forward(net.embedding.forward(X)));
  const diff = relativeDiff(logits, unfolded);
  const summary = `Your network's ${found.length} pairs folded: its logits on ${count(rows)} val contexts move by ${diff.toExponential(1)} of the largest; val loss ${fmt(lossOn(net, "val"))}.`;
  layers.filter((l) => !net.layers.includes(l)).forEach((l) => l.dispose());
  if (diff <= TOLERANCE) return { judgement: null, summary };
  return {
    judgement: incorrect(
      `Folding your network changes its logits by up to ${percent(diff)} of the largest.`,
      "the fold is right on single layers: is the network in evaluation mode, with running statistics that training left?",
    ),
    summary,
  };
}

/**
 * Exercise 3.2: the learner's {@link Fold}, or `{ fold, net }` with a
 * trained DeepMLP whose pairs are all folded and compared too.
 */
export const checkBatchNormFold = defineCheck(BATCHNORM_FOLD, (answer: unknown): Judgement =>
  inScope(() => {
    const fold = typeof answer === "function" ? answer : (answer as { fold?: unknown } | null)?.fold;
    const net = typeof answer === "function" ? undefined : (answer as { net?: DeepMLP } | null)?.net;
    const single = judgePair(fold, true) ?? judgePair(fold, false);
    if (single) return single;
    const network = net ? judgeNetwork(fold, net) : null;
    if (network?.judgement) return network.judgement;
    return correct(
      `the folded Linear gives the outputs of Linear then BatchNorm1d in evaluation mode (to ${TOLERANCE} of the largest), with and without a bias, and leaves the original layers as they were.${network ? ` ${network.summary}` : ""}`,
    );
  }),
);
