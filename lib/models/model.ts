/**
 * What every trainable model in the lib is: a set of tfjs variables and a
 * forward pass. Two kinds, after the examples they read:
 *
 * - a {@link LanguageModel} (the lectures' models) maps context windows
 *   [batch, blockSize] to the logits of the next token [batch, vocab];
 * - a {@link SequenceModel} (makemore.py's models) maps padded lines
 *   [batch, T] to logits at every position [batch, T, vocab].
 *
 * Training, evaluation, the learning-rate finder, sampling and checkpoints
 * work on either ({@link Model}).
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { ExampleKind } from "../data/examples";
import { EagerOps, type EagerListener } from "../nn/eager";
import { crossEntropy, sequenceCrossEntropy } from "../nn/ops";
import type { L2Term, Ops } from "../nn/ops-interface";
import { tf } from "../runtime/tf";

/** What both kinds of model have. */
export interface ModelBase {
  /** tokens each example holds: context length, or positions of a padded line */
  readonly blockSize: number;
  /** size of the vocabulary (27 for names) */
  readonly vocabSize: number;
  /** every trainable variable, in a stable order */
  parameters(): tfjs.Variable[];
  /** state training changes besides the parameters (batch-norm running statistics), if any */
  buffers?(): tfjs.Variable[];
  /** an extra loss term added during training (L2 regularization), if any */
  regularization?(): tfjs.Scalar;
  /** frees the model's variables (and any state tensors) */
  dispose(): void;
}

/** A next-character model over context windows (every model of the lectures). */
export interface LanguageModel extends ModelBase {
  /** "context", or left out */
  readonly examples?: "context";
  /**
   * Logits of the next token, shape [batch, vocabSize], for int32 contexts of
   * shape [batch, blockSize]. `training` selects batch statistics (true) or
   * running statistics (false) in models with batch normalization, and lets
   * such models update their running statistics.
   */
  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor2D;
}

/** A model that predicts at every position of a padded line (makemore.py's models). */
export interface SequenceModel extends ModelBase {
  /** "sequence" */
  readonly examples: "sequence";
  /** logits [batch, T, vocabSize] for int32 inputs [batch, T]; position t sees tokens 0..t only */
  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor3D;
}

/** A model of either kind. */
export type Model = LanguageModel | SequenceModel;

/**
 * A model whose forward pass is written once, over {@link Ops}: its public
 * `forward` runs it on the eager ops, and the fused engine records the same
 * pass as a graph of kernel calls.
 */
export interface OpsModel {
  /** the logits of the tokens `o.tokens`: [B, vocab] for contexts, [B, T, vocab] for lines (eager shapes) */
  logits<V>(o: Ops<V>): V;
  /** why the model cannot run on the fused engine as it is now (it keeps activations, say), or null */
  fusedUnavailable?(): string | null;
  /** the L2 terms of its training loss, when it has a regularization term */
  l2Terms?(): L2Term[];
}

/** Whether a model writes its forward pass over {@link Ops}. */
export function isOpsModel(model: object): model is OpsModel {
  return typeof (model as Partial<OpsModel>).logits === "function";
}

/** {@link OpsModel.logits} on the eager ops for int32 inputs X [B, T], inside tf.tidy. */
export function eagerLogits<T extends tfjs.Tensor>(
  model: OpsModel,
  X: tfjs.Tensor2D,
  training: boolean,
  listener?: EagerListener,
): T {
  return tf.tidy(() => model.logits(new EagerOps(X, training, listener)) as T);
}

/** The examples a model reads. */
export function exampleKind(model: Model): ExampleKind {
  return model.examples === "sequence" ? "sequence" : "context";
}

/** Whether a model predicts at every position. */
export function isSequenceModel(model: Model): model is SequenceModel {
  return model.examples === "sequence";
}

/** Total number of scalars in the model's parameters (11,897 for the lecture-2 MLP). */
export function countParameters(model: Pick<ModelBase, "parameters">): number {
  return model.parameters().reduce((n, p) => n + p.size, 0);
}

/** State a model changes in training besides its parameters (batch-norm running statistics). */
export interface HasBuffers {
  /** the non-trainable state variables */
  buffers(): tfjs.Variable[];
}

/** Parameters and buffers of a model: everything a snapshot or a checkpoint must save. */
export function modelState(model: ModelBase): tfjs.Variable[] {
  return [...model.parameters(), ...(typeof model.buffers === "function" ? model.buffers() : [])];
}

/**
 * The mean cross-entropy of a model's logits against targets: Y [batch] for
 * contexts, Y [batch, T] with ignored (-1) padding for sequences.
 */
export function modelLoss(model: Model, X: tfjs.Tensor2D, Y: tfjs.Tensor, training: boolean): tfjs.Scalar {
  return isSequenceModel(model)
    ? sequenceCrossEntropy(model.forward(X, training), Y as tfjs.Tensor2D)
    : crossEntropy(model.forward(X, training), Y as tfjs.Tensor1D);
}

/** The training loss of a batch: {@link modelLoss} plus the model's regularization term, if it has one. */
export function batchLoss(model: Model, X: tfjs.Tensor2D, Y: tfjs.Tensor, training = true): tfjs.Scalar {
  return tf.tidy(() => {
    const loss = modelLoss(model, X, Y, training);
    return model.regularization ? (tf.add(loss, model.regularization()) as tfjs.Scalar) : loss;
  });
}
