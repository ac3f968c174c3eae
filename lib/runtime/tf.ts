/**
 * The one TensorFlow.js namespace the whole lib uses.
 *
 * When the opt-in native binding is installed (`npm run native` puts
 * @tensorflow/tfjs-node in .native/) and MAKEMORE_BACKEND does not ask for
 * wasm or cpu, this is tfjs-node's namespace; otherwise it is plain
 * @tensorflow/tfjs, on which the wasm and cpu backends run. Import `tf` from
 * here, never from '@tensorflow/tfjs' directly, so that tensors made by
 * notebooks and by the lib live in the same engine.
 *
 * @module
 */
import * as path from "path";
import * as tfjs from "@tensorflow/tfjs";
import { projectRoot } from "./paths";

/** The type of the TensorFlow.js namespace. */
export type Tf = typeof tfjs;
/** A tfjs tensor of any rank (re-exported so notebooks can name tensor types). */
export type Tensor = tfjs.Tensor;
/** A rank-1 tfjs tensor. */
export type Tensor1D = tfjs.Tensor1D;
/** A rank-2 tfjs tensor. */
export type Tensor2D = tfjs.Tensor2D;
/** A rank-0 tfjs tensor. */
export type Scalar = tfjs.Scalar;
/** A trainable tfjs variable. */
export type Variable = tfjs.Variable;

/** Where `npm run native` installs @tensorflow/tfjs-node (outside the main tree; see README). */
export const nativeModulePath: string = path.join(projectRoot, ".native", "node_modules", "@tensorflow", "tfjs-node");

/** Why the native binding is not in use, when it is not (shown with the backend line). */
export let nativeUnavailableReason = "";

function loadTf(): Tf {
  const wanted = process.env.MAKEMORE_BACKEND;
  if (wanted === "wasm" || wanted === "cpu") {
    nativeUnavailableReason = `MAKEMORE_BACKEND=${wanted}`;
    return tfjs;
  }
  let native: Tf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    native = require(nativeModulePath) as Tf;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    nativeUnavailableReason =
      err.code === "MODULE_NOT_FOUND" && String(err.message).includes(nativeModulePath)
        ? "tfjs-node not installed (npm run native)"
        : `tfjs-node did not load: ${String(err.message).split("\n")[0]}`;
    return tfjs;
  }
  try {
    // The real binding registers the 'tensorflow' backend; run one op to prove it works.
    if (native.getBackend() !== "tensorflow") throw new Error(`backend is ${native.getBackend()}`);
    const s = native.tidy(
      () =>
        native
          .matMul(native.ones([2, 2]), native.ones([2, 2]))
          .sum()
          .dataSync()[0],
    );
    if (s !== 8) throw new Error(`a 2x2 product gave ${s}`);
    return native;
  } catch (e) {
    nativeUnavailableReason = `tfjs-node loaded but does not run: ${(e as Error).message}`;
    return tfjs;
  }
}

/** The TensorFlow.js namespace in use (see the module comment). */
export const tf: Tf = loadTf();
