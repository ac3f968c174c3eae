/**
 * test/fixtures/makemore-models.json, written by
 * scripts/fixtures/makemore_models.py: makemore.py's six models in PyTorch
 * with their weights, a batch with ignored targets, the logits, the loss and
 * every gradient; and the helpers that read it.
 */
import { readFileSync } from "fs";
import { join } from "path";
import { resolveConfig } from "../../lib/experiments/hyperparams";
import { buildModel } from "../../lib/experiments/run-model";
import type { Model } from "../../lib/models/model";
import { hasNamedParameters } from "../../lib/models/parts";
import { tf } from "../../lib/runtime/tf";

/** One model's record (arrays as base64 little-endian float32, or int32 for the batch). */
export interface Recorded {
  kind: string;
  shape: { blockSize: number; nLayers: number; nHead: number; nEmbd: number; nEmbd2: number };
  vocabSize: number;
  X: string;
  Y: string;
  B: number;
  T: number;
  params: { name: string; shape: number[]; data: string }[];
  grads: string[];
  logits: string;
  loss: number;
}

/** Every model of the fixture. */
export const RECORDED: Recorded[] = (
  JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "makemore-models.json"), "utf8")) as {
    models: Recorded[];
  }
).models;

function view(b64: string): DataView {
  const bytes = Buffer.from(b64, "base64");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A base64 float32 array. */
export function floats(b64: string): Float32Array {
  const v = view(b64);
  return Float32Array.from({ length: v.byteLength / 4 }, (_, i) => v.getFloat32(4 * i, true));
}

/** A base64 int32 array. */
export function ints(b64: string): Int32Array {
  const v = view(b64);
  return Int32Array.from({ length: v.byteLength / 4 }, (_, i) => v.getInt32(4 * i, true));
}

/** Largest |a - b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Largest |a - b| over the largest |b| (1 when b is all zeros). */
export function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i] as number));
  return maxDiff(a, b) / (scale || 1);
}

/** Our model of the recorded kind and shape, with PyTorch's weights assigned by name (the names are checked). */
export function loadRecorded(r: Recorded): Model {
  const model = buildModel(resolveConfig({ model: r.kind, ...r.shape }), r.vocabSize);
  if (!hasNamedParameters(model)) throw new Error(`${r.kind} has no namedParameters()`);
  const named = model.namedParameters();
  const expected = r.params.map((p) => `${p.name} [${p.shape.join(", ")}]`);
  const ours = named.map(([n, v]) => `${n} [${v.shape.join(", ")}]`);
  if (ours.join("\n") !== expected.join("\n"))
    throw new Error(`${r.kind}: parameters ${ours.join(", ")} ≠ ${expected.join(", ")}`);
  named.forEach(([, v], i) => {
    const p = r.params[i] as Recorded["params"][number];
    tf.tidy(() => v.assign(tf.tensor(floats(p.data), p.shape, "float32")));
  });
  return model;
}
