/**
 * Fused tensor operations with hand-derived gradients. They make training work
 * on every backend (the wasm backend has no UnsortedSegmentSum kernel, which
 * the gradient of tf.gather needs) and cut the number of ops per step.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import { tf } from "../runtime/tf";

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
