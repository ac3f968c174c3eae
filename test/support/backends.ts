/**
 * Running a block of tests on every backend that works here (wasm and cpu,
 * plus node when the native binding is installed), so results can be compared.
 */
import { initBackend, type BackendName } from "../../lib/runtime/backend";
import { tf } from "../../lib/runtime/tf";

/** Backends the unit tests run on: wasm and cpu always, node when tf is tfjs-node. */
export const TEST_BACKENDS: BackendName[] =
  tf.getBackend() === "tensorflow" ? ["node", "wasm", "cpu"] : ["wasm", "cpu"];

/**
 * `describe` once per backend; the backend is switched in `beforeAll`.
 * @example describeEachBackend("mlp", (backend) => { test("...", () => { ... }); });
 */
export function describeEachBackend(name: string, body: (backend: BackendName) => void): void {
  describe.each(TEST_BACKENDS)(`${name} [%s]`, (backend) => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    body(backend);
  });
}
