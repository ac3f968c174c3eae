/**
 * How many examples an evaluation takes at a time. The chunking decides the
 * order of summation (and so the last bits of a loss), so each engine keeps
 * its own fixed sizes: context windows 2,048 at a time fused and 8,192 with
 * tfjs ops; lines about 16,384 tokens at a time on both.
 *
 * @module
 */
import type { Examples } from "../data/examples";
import type { Model } from "../models/model";
import type { EngineName } from "./engine";

/** Tokens an evaluation chunk of lines holds: lines of 16 positions go 1,024 at a time, lines of 506 go 32. */
const EVAL_TOKENS = 16384;

/** Context windows per chunk by default, by engine. */
const CONTEXT_CHUNK: Record<EngineName, number> = { fused: 2048, tfjs: 8192 };

/** Lines per evaluation chunk: `chunkSize` if given, else about {@link EVAL_TOKENS} tokens; at most the split. */
export function evalLines(model: Pick<Model, "blockSize">, data: Pick<Examples, "n">, chunkSize?: number): number {
  checkChunkSize(chunkSize);
  const lines = chunkSize ?? Math.max(1, Math.floor(EVAL_TOKENS / model.blockSize));
  return Math.max(1, Math.min(lines, data.n));
}

/**
 * Examples per evaluation chunk of a split of `n` examples on `engine`: lines
 * as {@link evalLines}; context windows `chunkSize` (default by engine), and
 * on the fused engine at most the split and at least 2 (batch norm's minimum).
 */
export function evalChunk(
  model: Pick<Model, "blockSize" | "examples">,
  n: number,
  engine: EngineName,
  chunkSize?: number,
): number {
  if (model.examples === "sequence") return evalLines(model, { n }, chunkSize);
  checkChunkSize(chunkSize);
  const size = chunkSize ?? CONTEXT_CHUNK[engine];
  return engine === "fused" ? Math.max(2, Math.min(size, n)) : size;
}

function checkChunkSize(chunkSize?: number): void {
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
}
