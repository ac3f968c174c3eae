/**
 * The seeds the lectures use, defined once.
 *
 * @module
 */

/** The lectures' generator seed (`torch.Generator().manual_seed(2147483647)`). */
export const LECTURE_SEED = 2147483647;

/** The lectures' sampling seed (`manual_seed(2147483647 + 10)`). */
export const SAMPLE_SEED = LECTURE_SEED + 10;
