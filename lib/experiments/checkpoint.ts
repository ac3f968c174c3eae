/**
 * Checkpoints: a trained model's weights together with its configuration
 * and vocabulary, in one file that is written atomically and checked when
 * read, so a truncated or corrupted file is one clear error rather than a
 * model with garbage weights.
 *
 * Layout of a checkpoint file (all integers little-endian):
 *
 *     8 bytes   magic "MMCKPT\r\n"
 *     4 bytes   format version (uint32)
 *     4 bytes   header length H (uint32)
 *     H bytes   header: UTF-8 JSON { config, vocab, meta, tensors: [{ shape }] }
 *     ...       the tensors' values as float32, one after the other, in header order
 *     32 bytes  SHA-256 of every byte before it
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import type * as tfjs from "@tensorflow/tfjs";
import { modelState, type ModelBase } from "../models/model";
import { writeFileAtomic } from "../runtime/files";
import { tf } from "../runtime/tf";
import type { VocabJSON } from "../data/vocab";

/** The checkpoint format this code writes and reads. */
export const CHECKPOINT_FORMAT = 1;

const MAGIC = Buffer.from("MMCKPT\r\n", "latin1");
const PREFIX_BYTES = MAGIC.length + 8;
const CHECKSUM_BYTES = 32;

/** A checkpoint that cannot be read: missing, truncated, corrupted, or of another model. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** One saved tensor: its shape and its values. */
export interface CheckpointTensor {
  /** dimensions, e.g. [27, 10] */
  shape: number[];
  /** the values in row-major order (length: the product of the shape) */
  values: Float32Array;
}

/** Everything a checkpoint holds. */
export interface Checkpoint<C = unknown, M = unknown> {
  /** how to rebuild the model (any JSON value) */
  config: C;
  /** the vocabulary the model was trained with */
  vocab: VocabJSON;
  /** anything else worth keeping: step, losses, run tag (any JSON value) */
  meta: M;
  /** the model's state (parameters, then buffers), in a fixed order */
  tensors: CheckpointTensor[];
}

interface Header {
  config: unknown;
  vocab: VocabJSON;
  meta: unknown;
  tensors: { shape: number[] }[];
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The bytes of a checkpoint (see the module comment for the layout). */
export function encodeCheckpoint<C, M>(ckpt: Checkpoint<C, M>): Buffer {
  ckpt.tensors.forEach((t, i) => {
    if (t.values.length !== elementCount(t.shape)) {
      throw new RangeError(`tensor ${i} has ${t.values.length} values but shape [${t.shape.join(", ")}]`);
    }
  });
  const header: Header = {
    config: ckpt.config,
    vocab: ckpt.vocab,
    meta: ckpt.meta,
    tensors: ckpt.tensors.map((t) => ({ shape: [...t.shape] })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const dataBytes = ckpt.tensors.reduce((n, t) => n + 4 * t.values.length, 0);
  const out = Buffer.alloc(PREFIX_BYTES + headerBytes.length + dataBytes + CHECKSUM_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(CHECKPOINT_FORMAT, MAGIC.length);
  out.writeUInt32LE(headerBytes.length, MAGIC.length + 4);
  headerBytes.copy(out, PREFIX_BYTES);
  let offset = PREFIX_BYTES + headerBytes.length;
  for (const t of ckpt.tensors) {
    for (let i = 0; i < t.values.length; i++) offset = out.writeFloatLE(t.values[i] as number, offset);
  }
  crypto.createHash("sha256").update(out.subarray(0, offset)).digest().copy(out, offset);
  return out;
}

/**
 * Reads the bytes of a checkpoint back.
 * @param source - the file name, for error messages.
 * @throws CheckpointError naming what is wrong (not a checkpoint, other format, truncated, corrupted).
 */
export function decodeCheckpoint<C = unknown, M = unknown>(bytes: Uint8Array, source = "checkpoint"): Checkpoint<C, M> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): CheckpointError => new CheckpointError(`${source} ${why}`);
  if (buf.length < PREFIX_BYTES) {
    if (buf.length > 0 && MAGIC.subarray(0, buf.length).equals(buf)) throw bad(`is truncated (${buf.length} bytes)`);
    throw bad("is not a makemore checkpoint (it is too short)");
  }
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw bad("is not a makemore checkpoint (wrong magic bytes)");
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== CHECKPOINT_FORMAT) {
    throw bad(`has format version ${version}; this code reads version ${CHECKPOINT_FORMAT}`);
  }
  const headerLength = buf.readUInt32LE(MAGIC.length + 4);
  if (PREFIX_BYTES + headerLength + CHECKSUM_BYTES > buf.length) {
    throw bad(`is truncated (${buf.length} bytes, its header alone needs ${PREFIX_BYTES + headerLength})`);
  }
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength).toString("utf8")) as Header;
  } catch {
    throw bad("is corrupted (its header is not valid JSON)");
  }
  if (
    !header ||
    typeof header !== "object" ||
    !Array.isArray(header.tensors) ||
    !header.tensors.every(
      (t) => t && Array.isArray(t.shape) && t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0),
    )
  ) {
    throw bad("is corrupted (its header lacks the tensor shapes)");
  }
  const dataBytes = header.tensors.reduce((n, t) => n + 4 * elementCount(t.shape), 0);
  const expected = PREFIX_BYTES + headerLength + dataBytes + CHECKSUM_BYTES;
  if (buf.length < expected) throw bad(`is truncated (${buf.length} of ${expected} bytes)`);
  if (buf.length > expected) throw bad(`is corrupted (${buf.length} bytes where ${expected} were expected)`);
  const body = expected - CHECKSUM_BYTES;
  const digest = crypto.createHash("sha256").update(buf.subarray(0, body)).digest();
  if (!digest.equals(buf.subarray(body))) throw bad("is corrupted (checksum mismatch)");
  let offset = PREFIX_BYTES + headerLength;
  const tensors = header.tensors.map((t) => {
    const values = new Float32Array(elementCount(t.shape));
    for (let i = 0; i < values.length; i++, offset += 4) values[i] = buf.readFloatLE(offset);
    return { shape: [...t.shape], values };
  });
  return { config: header.config as C, vocab: header.vocab, meta: header.meta as M, tensors };
}

/** Writes a checkpoint file atomically (temporary file, then rename). */
export function writeCheckpoint<C, M>(file: string, ckpt: Checkpoint<C, M>): void {
  writeFileAtomic(file, encodeCheckpoint(ckpt));
}

/** The largest checkpoint file read (half a billion parameters; a larger model is refused before it is built). */
export const CHECKPOINT_MAX_BYTES = 2 ** 31;

/**
 * Reads and verifies a checkpoint file.
 * @throws CheckpointError for a missing, truncated or corrupted file, or one that is not a regular file.
 */
export function readCheckpoint<C = unknown, M = unknown>(file: string): Checkpoint<C, M> {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new CheckpointError(`${file} is a directory, not a checkpoint`);
    // a device or a pipe (/dev/zero) is never a checkpoint, and may never end
    if (!stat.isFile()) throw new CheckpointError(`${file} is not a regular file, so not a checkpoint`);
    if (stat.size > CHECKPOINT_MAX_BYTES) throw new CheckpointError(`${file} is larger than any checkpoint (2 GB)`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CheckpointError(`no checkpoint at ${file}`);
    throw new CheckpointError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return decodeCheckpoint<C, M>(bytes, file);
}

/** Copies of a model's state (parameters, then buffers such as batch-norm running statistics). */
export function modelTensors(model: ModelBase): CheckpointTensor[] {
  return modelState(model).map((v) => ({ shape: [...v.shape], values: Float32Array.from(v.dataSync()) }));
}

/**
 * Puts saved state into a model built with the same configuration.
 * @throws CheckpointError when the number or shapes of the tensors do not match the model.
 */
export function loadTensorsInto(model: ModelBase, tensors: readonly CheckpointTensor[], source = "checkpoint"): void {
  const state = modelState(model);
  if (state.length !== tensors.length) {
    throw new CheckpointError(`${source} holds ${tensors.length} tensors but the model has ${state.length}`);
  }
  state.forEach((v, i) => {
    const t = tensors[i] as CheckpointTensor;
    if (t.shape.join(",") !== v.shape.join(",")) {
      throw new CheckpointError(
        `${source}: tensor ${i} has shape [${t.shape.join(", ")}] but the model expects [${v.shape.join(", ")}]`,
      );
    }
  });
  tf.tidy(() => {
    state.forEach((v, i) => {
      const t = tensors[i] as CheckpointTensor;
      v.assign(tf.tensor(t.values, t.shape, "float32") as tfjs.Tensor);
    });
  });
}
