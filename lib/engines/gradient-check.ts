/**
 * The fused engine's hand-derived backward pass checked against tfjs's
 * automatic differentiation of the same forward pass (the model's `logits`
 * on the eager ops), on one batch: for any model the fused engine runs.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { EagerOps } from "../nn/eager";
import { crossEntropy, l2Loss, sequenceCrossEntropy } from "../nn/ops";
import { tf } from "../runtime/tf";
import { GraphNet, type GraphModel } from "./graph-net";

/** How far one parameter's fused gradient is from tfjs's autodiff gradient. */
export interface GradientCheck {
  /** position in `model.parameters()` */
  index: number;
  /** shape of the parameter */
  shape: number[];
  /** largest |fused - autodiff| over the parameter's entries */
  maxAbsDiff: number;
  /** largest |autodiff gradient| (to judge the difference against) */
  maxAbsGrad: number;
}

/**
 * The training loss of one batch on the eager ops: the model's logits, the
 * cross-entropy of its examples' kind, and its L2 terms.
 */
function eagerLoss(model: GraphModel, X: tfjs.Tensor2D, Y: tfjs.Tensor): tfjs.Scalar {
  const logits = model.logits(new EagerOps(X, true));
  const loss =
    model.examples === "sequence"
      ? sequenceCrossEntropy(logits as tfjs.Tensor3D, Y as tfjs.Tensor2D)
      : crossEntropy(logits as tfjs.Tensor2D, Y as tfjs.Tensor1D);
  return tf.add(loss, l2Loss(model.l2Terms?.() ?? []));
}

/**
 * Checks the fused backward pass against tfjs's automatic differentiation on
 * one training batch: the loss of both and, per parameter, the largest
 * difference of the gradients. The model (its running statistics included)
 * is left as it was.
 *
 * @param X - int32 tokens [batch · blockSize], flat
 * @param Y - int32 targets [batch] (context windows) or [batch · blockSize] (lines)
 * @throws Error when the model's graph does not fit together.
 */
export function checkFusedGradients(
  model: GraphModel,
  X: Int32Array,
  Y: Int32Array,
): { fusedLoss: number; tfjsLoss: number; params: GradientCheck[] } {
  const batch = X.length / model.blockSize;
  const net = new GraphNet(model, batch);
  net.load();
  const initial = net.stateViews().map((v) => v.slice());
  const views = net.batchViews();
  views.X.set(X);
  views.Y.set(Y);
  const fusedLoss = net.forwardBackward();
  const fused = net.gradients();
  try {
    const { tfjsLoss, params } = compare(model, X, Y, fused);
    return { fusedLoss, tfjsLoss, params };
  } finally {
    fused.forEach((g) => g.dispose());
    net.stateViews().forEach((v, i) => v.set(initial[i] as Float32Array));
    net.store(); // the running statistics as they were: the eager pass moved them too
  }
}

/** The autodiff loss and gradients of the batch against the fused gradients, parameter by parameter. */
function compare(
  model: GraphModel,
  X: Int32Array,
  Y: Int32Array,
  fused: Map<tfjs.Variable, tfjs.Tensor>,
): { tfjsLoss: number; params: GradientCheck[] } {
  const params = model.parameters();
  return tf.tidy(() => {
    const Xt = tf.tensor2d(X, [X.length / model.blockSize, model.blockSize], "int32");
    const Yt = model.examples === "sequence" ? tf.tensor2d(Y, Xt.shape, "int32") : tf.tensor1d(Y, "int32");
    const { value, grads } = tf.variableGrads(() => eagerLoss(model, Xt, Yt), params);
    // per parameter: max |fused - autodiff| and max |autodiff|, read at once
    const stats = tf
      .stack(
        params.flatMap((p) => {
          const auto = grads[p.name] as tfjs.Tensor;
          return [tf.max(tf.abs(tf.sub(fused.get(p) as tfjs.Tensor, auto))), tf.max(tf.abs(auto))];
        }),
      )
      .dataSync();
    const checks = params.map((p, index) => ({
      index,
      shape: [...p.shape],
      maxAbsDiff: stats[2 * index] as number,
      maxAbsGrad: stats[2 * index + 1] as number,
    }));
    return { tfjsLoss: value.dataSync()[0] as number, params: checks };
  });
}
