/**
 * makemore.py's six models against PyTorch: test/fixtures/makemore-models.json
 * (written by scripts/fixtures/makemore_models.py) holds each model's weights,
 * a batch with ignored targets, the logits, the loss and every gradient. The
 * same weights, loaded by name into lib/models, must give the same numbers.
 */
import type * as tfjs from "@tensorflow/tfjs";
import { batchLoss } from "../lib/models/model";
import type { Transformer } from "../lib/models/transformer";
import { tf } from "../lib/runtime/tf";
import { describeEachBackend } from "./support/backends";
import { floats, ints, loadRecorded, maxDiff, RECORDED, relativeDiff, type Recorded } from "./support/makemore-fixture";

describeEachBackend("makemore.py's models match PyTorch", () => {
  test.each(RECORDED.map((m) => [m.kind, m] as const))("%s: logits, loss and gradients", (kind, r) => {
    const model = loadRecorded(r);
    const X = tf.tensor2d(ints(r.X), [r.B, r.T], "int32") as tfjs.Tensor2D;
    const Y = tf.tensor2d(ints(r.Y), [r.B, r.T], "int32") as tfjs.Tensor2D;
    const before = tf.memory().numTensors;
    const logits = model.forward(X, true);
    expect(maxDiff(logits.dataSync(), floats(r.logits))).toBeLessThan(1e-5);
    const { value, grads } = tf.variableGrads(() => batchLoss(model, X, Y), model.parameters());
    expect(Math.abs((value.dataSync()[0] as number) - r.loss)).toBeLessThan(1e-5);
    model.parameters().forEach((p, i) => {
      const g = grads[p.name] as tfjs.Tensor;
      const rel = relativeDiff(g.dataSync(), floats(r.grads[i] as string));
      expect([kind, r.params[i]?.name, rel < 1e-4 ? "ok" : rel]).toEqual([kind, r.params[i]?.name, "ok"]);
    });
    tf.dispose([logits, value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([X, Y]);
    model.dispose();
  });

  test.each(RECORDED.map((m) => [m.kind, m] as const))(
    "%s: a shorter line gets the first logits of the full one (causal, and T < blockSize works)",
    (_kind, r) => {
      const model = loadRecorded(r);
      tf.tidy(() => {
        const X = tf.tensor2d(ints(r.X), [r.B, r.T], "int32") as tfjs.Tensor2D;
        const full = model.forward(X, false);
        const T = r.T - 2;
        const short = model.forward(X.slice([0, 0], [r.B, T]), false);
        expect(short.shape).toEqual([r.B, T, r.vocabSize]);
        expect(maxDiff(short.dataSync(), full.slice([0, 0, 0], [r.B, T, -1]).dataSync())).toBeLessThan(1e-6);
      });
      model.dispose();
    },
  );

  test("transformer: attentionMaps gives each block's causal attention, and forward is unchanged", () => {
    const r = RECORDED.find((m) => m.kind === "transformer") as Recorded;
    const model = loadRecorded(r) as Transformer;
    const X = tf.tensor2d(ints(r.X), [r.B, r.T], "int32") as tfjs.Tensor2D;
    const before = model.forward(X);
    const tensors = tf.memory().numTensors;
    const maps = model.attentionMaps(X);
    expect(tf.memory().numTensors).toBe(tensors + r.shape.nLayers);
    expect(maps.map((m) => m.shape)).toEqual(Array(r.shape.nLayers).fill([r.B, r.shape.nHead, r.T, r.T]));
    for (const m of maps) {
      const p = m.arraySync();
      const rows = p.flat(2);
      expect(
        maxDiff(
          rows.map((row) => row.reduce((a, v) => a + v, 0)),
          rows.map(() => 1),
        ),
      ).toBeLessThan(1e-5);
      const above = rows.flatMap((row, i) => row.slice((i % r.T) + 1));
      expect(Math.max(...above)).toBe(0);
      expect(Math.min(...rows.map((row, i) => row[i % r.T] as number))).toBeGreaterThan(0);
    }
    // the same logits as before, and as PyTorch's
    const after = model.forward(X);
    expect(maxDiff(after.dataSync(), before.dataSync())).toBe(0);
    expect(maxDiff(after.dataSync(), floats(r.logits))).toBeLessThan(1e-5);
    tf.dispose([X, before, after, ...maps]);
    model.dispose();
  });

  test("every makemore kind is in the fixture", () => {
    expect(RECORDED.map((m) => m.kind)).toEqual([
      "transformer",
      "gru",
      "rnn",
      "bow",
      "makemore-mlp",
      "makemore-bigram",
    ]);
  });
});
