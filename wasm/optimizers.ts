// The AdamW update over kernel memory, with the float32 roundings of
// lib/training/optimizers.ts (torch 1.13's single-tensor AdamW on CPU): each
// float32 operation is done in f64 and rounded once, as the JS does, so the
// two give the same bits. Scalar code: the f64 steps are what keeps the bits
// equal, and the update is a small part of a step.

/**
 * One AdamW step over n parameters p with gradients g and moments m, v (all
 * float32, updated in place). The constants are those of `AdamW.advance`.
 */
export function adamwUpdate(
  n: i32,
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  decay: f32,
  beta1: f32,
  keep1: f32,
  beta2: f32,
  keep2: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  eps: f32,
): void {
  for (let j = 0; j < n; j++) {
    const o = (<usize>j) << 2;
    const gj = <f64>load<f32>(g + o);
    const pj = <f64>(<f32>(<f64>load<f32>(p + o) * <f64>decay));
    const mj = <f32>(gj * <f64>keep1 + <f64>(<f32>(<f64>load<f32>(m + o) * <f64>beta1)));
    const scaled = <f64>(<f32>(<f64>keep2 * gj));
    const vj = <f32>(scaled * gj + <f64>(<f32>(<f64>load<f32>(v + o) * <f64>beta2)));
    const root = <f64>(<f32>Math.sqrt(<f64>vj));
    const denom = <f32>(<f64>(<f32>(root / <f64>bc2Sqrt)) + <f64>eps);
    store<f32>(m + o, mj);
    store<f32>(v + o, vj);
    store<f32>(p + o, <f32>(pj + <f64>(<f32>(<f64>(<f32>(<f64>stepSize * <f64>mj)) / <f64>denom))));
  }
}
