import { currentBackend, initBackend, parseBackend } from "../lib/runtime/backend";
import { tf } from "../lib/runtime/tf";

describe("backend selection", () => {
  test("names are checked with one clear line", () => {
    expect(parseBackend("wasm")).toBe("wasm");
    expect(() => parseBackend("gpu", "MAKEMORE_BACKEND")).toThrow(
      "MAKEMORE_BACKEND must be one of node, wasm, cpu; got 'gpu'",
    );
  });

  test("picks the fastest backend that works and can switch to the others", async () => {
    const expected = tf.getBackend() === "tensorflow" ? "node" : "wasm";
    expect(await initBackend()).toBe(expected);
    expect(await initBackend("cpu")).toBe("cpu");
    expect(currentBackend()).toBe("cpu");
    expect(await initBackend("wasm")).toBe("wasm");
  });

  test("a forced backend that cannot run is an error", async () => {
    if (tf.getBackend() === "tensorflow") return;
    await expect(initBackend("node")).rejects.toThrow(/backend 'node' cannot run here: tfjs-node/);
  });

  test("wasm and cpu compute the same matrix product", async () => {
    const results: number[][] = [];
    for (const b of ["wasm", "cpu"] as const) {
      await initBackend(b);
      const a = tf.tensor2d([1.5, -2, 0.25, 3, 1, -1], [2, 3]);
      const w = tf.tensor2d([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [3, 2]);
      results.push(Array.from(tf.matMul(a, w).dataSync()));
      tf.dispose([a, w]);
    }
    results[1]!.forEach((v, i) => expect(results[0]![i]).toBeCloseTo(v, 5));
  });
});
