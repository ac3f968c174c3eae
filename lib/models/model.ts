/**
 * What every trainable next-character model in the lib is: a set of tfjs
 * variables and a forward pass from contexts to logits. The training loop,
 * evaluation, the learning-rate finder, sampling and checkpoints work on any
 * {@link LanguageModel}.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";

/** A trainable next-character model. */
export interface LanguageModel {
  /** tokens of context the model reads (1 for bigram models) */
  readonly blockSize: number;
  /** size of the vocabulary (27 for names) */
  readonly vocabSize: number;
  /** every trainable variable, in a stable order */
  parameters(): tfjs.Variable[];
  /**
   * Logits of the next token, shape [batch, vocabSize], for int32 contexts of
   * shape [batch, blockSize]. `training` selects batch statistics (true) or
   * running statistics (false) in models with batch normalization, and lets
   * such models update their running statistics.
   */
  forward(X: tfjs.Tensor2D, training: boolean): tfjs.Tensor2D;
  /** An extra loss term added during training (L2 regularization), if any. */
  regularization?(): tfjs.Scalar;
  /** Frees the model's variables (and any state tensors). */
  dispose(): void;
}

/** Total number of scalars in the model's parameters (11,897 for the lecture-2 MLP). */
export function countParameters(model: Pick<LanguageModel, "parameters">): number {
  return model.parameters().reduce((n, p) => n + p.size, 0);
}
