// AdamW's update in the kernels, bit for bit what lib/training/optimizers.ts
// computes in JavaScript (itself torch 1.13's float32 roundings): every
// operation is done in float64 on float32 inputs and rounded to float32 at
// the same places, two values at a time (f64x2).

/** Rounds each float64 lane to float32 and back. */
function r32(x: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(x));
}

/** Two float32 values at p, as float64 lanes. */
function load2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** Two float64 lanes rounded to float32 and stored at p. */
function store2(p: usize, x: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(x), 0);
}

/**
 * One AdamW step over n values of p, g and the moments m, v (n even, or one
 * value past n touched: the buffers' padding). The constants are the float32
 * ones of optimizers.ts's AdamWStep: decay = 1 - lr·wd, keep = 1 - beta,
 * stepSize = -lr / (1 - beta1^t), bc2Sqrt = √(1 - beta2^t).
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
  const cDecay = f64x2.splat(<f64>decay);
  const cBeta1 = f64x2.splat(<f64>beta1);
  const cKeep1 = f64x2.splat(<f64>keep1);
  const cBeta2 = f64x2.splat(<f64>beta2);
  const cKeep2 = f64x2.splat(<f64>keep2);
  const cStep = f64x2.splat(<f64>stepSize);
  const cBc2 = f64x2.splat(<f64>bc2Sqrt);
  const cEps = f64x2.splat(<f64>eps);
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 8) {
    const gj = load2(g + o);
    const pj = r32(f64x2.mul(load2(p + o), cDecay));
    // fused multiply-adds: the exact product plus a rounded product, rounded once to float64 then to float32
    const mj = r32(f64x2.add(f64x2.mul(gj, cKeep1), r32(f64x2.mul(load2(m + o), cBeta1))));
    const vj = r32(f64x2.add(f64x2.mul(r32(f64x2.mul(cKeep2, gj)), gj), r32(f64x2.mul(load2(v + o), cBeta2))));
    const denom = r32(f64x2.add(r32(f64x2.div(r32(f64x2.sqrt(vj)), cBc2)), cEps));
    store2(m + o, mj);
    store2(v + o, vj);
    store2(p + o, f64x2.add(pj, r32(f64x2.div(r32(f64x2.mul(cStep, mj)), denom))));
  }
}
