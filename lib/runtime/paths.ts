/**
 * Where the project lives, found without loading TensorFlow.js.
 *
 * @module
 */
import * as path from "path";

/** Project root: the folder whose node_modules holds @tensorflow/tfjs. */
export const projectRoot: string = path.resolve(
  path.dirname(require.resolve("@tensorflow/tfjs/package.json")),
  "..",
  "..",
  "..",
);
