/**
 * measureStepCost: a model's time per step, memory estimate and peak RSS,
 * measured in a child process of its own (what notebook 10 shows for long lines).
 */
import { measureStepCost, parameterCount, resolveConfig } from "../lib/index";

describe("measureStepCost", () => {
  test("measures a model on every 100th name in a child process", async () => {
    const cost = await measureStepCost({ model: "bow", dataset: "names", every: 100, steps: 3 });
    // the longest name (15 characters) is kept, so the block size is the whole dataset's
    expect(cost).toMatchObject({ model: "bow", blockSize: 16, engine: "fused" });
    expect(cost.lines).toBeGreaterThan(320);
    expect(cost.lines).toBeLessThan(330);
    expect(cost.params).toBe(parameterCount(resolveConfig({ model: "bow", blockSize: 16 }), 27));
    // times are measured, not judged here (speed targets live in the bench)
    expect(Number.isFinite(cost.msPerStep) && cost.msPerStep > 0).toBe(true);
    expect(Number.isFinite(cost.evalSeconds) && cost.evalSeconds > 0).toBe(true);
    // the child's own peak: tfjs and the lib loaded (over 50 MB), under the estimate's allowance for the process
    expect(cost.peakRssBytes).toBeGreaterThan(50 * 2 ** 20);
    expect(cost.peakRssBytes).toBeLessThan(cost.estimateBytes);
    expect(cost.largestPart.bytes).toBeGreaterThan(0);
    expect(cost.largestPart.bytes).toBeLessThanOrEqual(cost.estimateBytes);
  }, 60_000);

  test("a model that does not read whole lines, or an unknown dataset, fails with the child's error", async () => {
    await expect(measureStepCost({ model: "mlp", dataset: "names" })).rejects.toThrow(
      /measuring mlp failed: RangeError: mlp does not read whole lines/,
    );
    await expect(measureStepCost({ model: "gru", dataset: "no-such-set" })).rejects.toThrow(
      /measuring gru failed: .*unknown dataset 'no-such-set'/,
    );
  }, 60_000);
});
