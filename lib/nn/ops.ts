/**
 * Fused tensor operations with hand-derived gradients. They make training work
 * on every backend (the wasm backend has no UnsortedSegmentSum kernel, which
 * the gradient of tf.gather needs) and cut the number of ops per step.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { tf } from "../runtime/tf";
import type { L2Term } from "./ops-interface";

/**
 * One-hot rows as float32. (The wasm backend's OneHot kernel ignores the dtype
 * argument and writes int32 bits into a float32 tensor, so cast instead.)
 */
export function oneHotFloat(indices: tfjs.Tensor1D, depth: number): tfjs.Tensor2D {
  return tf.cast(tf.oneHot(indices, depth), "float32") as tfjs.Tensor2D;
}

/**
 * Embedding lookup `C[X]`: rows of the table C [vocab, dim] for int32 indices X
 * of any shape; the result has shape [...X.shape, dim]. Its gradient with
 * respect to C adds each incoming row gradient to the row it was read from
 * (one-hot(X)ᵀ · dY, one matrix product), so no scatter kernel is needed.
 */
export function embedding(C: tfjs.Tensor2D, X: tfjs.Tensor): tfjs.Tensor {
  const [vocab, dim] = C.shape;
  const lookup = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const [table, save] = args as [tfjs.Tensor, tfjs.GradSaveFunc];
    save([X]);
    const value = tf.gather(table, X);
    const gradFunc = (dy: tfjs.Tensor, saved: tfjs.Tensor[]): tfjs.Tensor => {
      const ix = (saved[0] as tfjs.Tensor).reshape([-1]) as tfjs.Tensor1D;
      const oneHot = oneHotFloat(ix, vocab);
      return tf.matMul(oneHot, dy.reshape([-1, dim]) as tfjs.Tensor2D, true, false);
    };
    return { value, gradFunc };
  });
  return lookup(C);
}

/**
 * Mean cross-entropy of logits [batch, vocab] against int32 targets [batch],
 * like `F.cross_entropy`: log-sum-exp minus the target logit, computed stably.
 * Its gradient is (softmax(logits) - onehot(Y)) / batch, in one fused step.
 */
export function crossEntropy(logits: tfjs.Tensor2D, Y: tfjs.Tensor1D): tfjs.Scalar {
  const [batch, vocab] = logits.shape;
  const loss = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const [z, save] = args as [tfjs.Tensor, tfjs.GradSaveFunc];
    const oneHot = oneHotFloat(Y, vocab);
    const logProbs = tf.logSoftmax(z as tfjs.Tensor2D);
    save([logProbs, oneHot]);
    const value = tf.neg(tf.sum(tf.mul(logProbs, oneHot))).div(batch) as tfjs.Scalar;
    const gradFunc = (dy: tfjs.Tensor, saved: tfjs.Tensor[]): tfjs.Tensor => {
      const [lp, oh] = saved as [tfjs.Tensor, tfjs.Tensor];
      return tf.mul(tf.sub(tf.exp(lp), oh), tf.div(dy, batch));
    };
    return { value, gradFunc };
  });
  return loss(logits) as tfjs.Scalar;
}

/**
 * Mean cross-entropy over every position whose target is not -1, for logits
 * [batch, T, vocab] and int32 targets [batch, T] (F.cross_entropy with
 * `ignore_index=-1`, as makemore.py trains its sequence models).
 */
export function sequenceCrossEntropy(logits: tfjs.Tensor3D, Y: tfjs.Tensor2D): tfjs.Scalar {
  return tf.tidy(() => {
    const [batch, T, vocab] = logits.shape;
    const y = Y.reshape([batch * T]) as tfjs.Tensor1D;
    const valid = tf.cast(tf.greaterEqual(y, 0), "float32");
    const logProbs = tf.logSoftmax(logits.reshape([batch * T, vocab]) as tfjs.Tensor2D);
    const safe = tf.maximum(y, tf.scalar(0, "int32")) as tfjs.Tensor1D; // -1 would index nothing
    const picked = tf.sum(tf.mul(logProbs, oneHotFloat(safe, vocab)), 1);
    return tf.neg(tf.div(tf.sum(tf.mul(picked, valid)), tf.maximum(tf.sum(valid), 1))) as tfjs.Scalar;
  });
}

/**
 * `x @ W + b` as one op with a hand-written backward pass
 * (dx = dy Wᵀ, dW = xᵀ dy, db = sum(dy)). On the wasm backend the
 * transposes are made explicitly: its matrix product with a transposed
 * operand is two to three times slower than a transpose followed by a plain
 * product. `b` may be null (no bias).
 */
export function linear(x: tfjs.Tensor2D, W: tfjs.Tensor2D, b: tfjs.Tensor1D | null = null): tfjs.Tensor2D {
  const explicitTranspose = tf.getBackend() === "wasm";
  const op = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const input = args[0] as tfjs.Tensor2D;
    const w = args[1] as tfjs.Tensor2D;
    const bias = b ? (args[2] as tfjs.Tensor1D) : null;
    const save = args[args.length - 1] as tfjs.GradSaveFunc;
    save([input, w]);
    const value = bias ? (tf.fused.matMul({ a: input, b: w, bias }) as tfjs.Tensor2D) : tf.matMul(input, w);
    const gradFunc = (dy: tfjs.Tensor, saved: tfjs.Tensor[]): tfjs.Tensor[] =>
      tf.tidy(() => {
        const [xs, ws] = saved as [tfjs.Tensor2D, tfjs.Tensor2D];
        const g = dy as tfjs.Tensor2D;
        const dx = explicitTranspose ? tf.matMul(g, tf.transpose(ws)) : tf.matMul(g, ws, false, true);
        const dw = explicitTranspose ? tf.matMul(tf.transpose(xs), g) : tf.matMul(xs, g, true, false);
        return bias ? [dx, dw, tf.sum(g, 0)] : [dx, dw];
      });
    return { value, gradFunc };
  });
  return (b ? op(x, W, b) : op(x, W)) as tfjs.Tensor2D;
}

/** Options of {@link batchNormTrain}. */
export interface BatchNormTrainOptions {
  /** added to the variance before the square root (default 1e-5) */
  eps?: number;
  /** divide by n - 1 instead of n when normalizing (default false) */
  unbiasedNormalization?: boolean;
  /**
   * called inside the op with the batch mean and the unbiased batch variance
   * (both [dim]; no gradient flows through them, and they are freed after
   * the call): the place to update running statistics
   */
  onBatchStats?: (mean: tfjs.Tensor1D, unbiasedVar: tfjs.Tensor1D) => void;
}

/**
 * Training-mode batch normalization of x [n, dim] as one op:
 * `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the batch mean and
 * variance (over axis 0). Its backward pass is derived by hand rather than
 * recorded op by op. With `xhat = (x - mean) / sqrt(var + eps)`,
 * `s = gamma / sqrt(var + eps)` and d the variance divisor (n, or n - 1
 * when unbiased):
 *
 *     dbeta  = sum(dy)
 *     dgamma = sum(dy * xhat)
 *     dx     = s * (dy - dbeta / n - xhat * dgamma / d)
 *
 * (the variance's own gradient gives the xhat term, the mean's gives dbeta / n).
 *
 * @throws RangeError when the batch has fewer than 2 rows (the variance is undefined).
 */
export function batchNormTrain(
  x: tfjs.Tensor2D,
  gamma: tfjs.Tensor1D,
  beta: tfjs.Tensor1D,
  options: BatchNormTrainOptions = {},
): tfjs.Tensor2D {
  const n = x.shape[0];
  if (n < 2) throw new RangeError(`batch norm in training mode needs at least 2 rows, got ${n}`);
  const eps = options.eps ?? 1e-5;
  const divisor = options.unbiasedNormalization ? n - 1 : n;
  const op = tf.customGrad((...args: (tfjs.Tensor | tfjs.GradSaveFunc)[]) => {
    const [input, g, b, save] = args as [tfjs.Tensor2D, tfjs.Tensor1D, tfjs.Tensor1D, tfjs.GradSaveFunc];
    // customGrad runs this in a tidy scope, and records no tape inside it.
    const mean = tf.mean(input, 0);
    const c = tf.sub(input, mean);
    const sumSq = tf.sum(tf.square(c), 0);
    const invStd = tf.rsqrt(tf.add(tf.div(sumSq, divisor), eps));
    const xhat = tf.mul(c, invStd);
    const value = tf.add(tf.mul(xhat, g), b) as tfjs.Tensor2D;
    save([xhat, g, invStd]);
    if (options.onBatchStats) options.onBatchStats(mean as tfjs.Tensor1D, tf.div(sumSq, n - 1) as tfjs.Tensor1D);
    const gradFunc = (dy: tfjs.Tensor, saved: tfjs.Tensor[]): tfjs.Tensor[] =>
      tf.tidy(() => {
        const [xh, gm, inv] = saved as [tfjs.Tensor2D, tfjs.Tensor1D, tfjs.Tensor1D];
        const dbeta = tf.sum(dy, 0);
        const dgamma = tf.sum(tf.mul(dy, xh), 0);
        const centered = tf.sub(tf.sub(dy, tf.div(dbeta, n)), tf.mul(xh, tf.div(dgamma, divisor)));
        const dx = tf.mul(centered, tf.mul(gm, inv));
        return [dx, dgamma, dbeta];
      });
    return { value, gradFunc };
  });
  return op(x, gamma, beta) as tfjs.Tensor2D;
}

/** The sum of `coefficient · mean(param²)` over L2 terms (a model's regularization term). */
export function l2Loss(terms: readonly L2Term[]): tfjs.Scalar {
  return tf.tidy(() =>
    terms.reduce<tfjs.Scalar>(
      (sum, t) => tf.add(sum, tf.mul(tf.mean(tf.square(t.param)), t.coefficient)),
      tf.scalar(0),
    ),
  );
}
