// AdamW's update in the kernels, bit for bit what lib/training/optimizers.ts
// computes in JavaScript (itself torch 1.13's float32 roundings), four values
// at a time.

/** Rounds each float64 lane to float32 and back. */
function r32(x: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(x));
}

/** Lanes 0 and 1 of four float32 values, as float64 lanes. */
function low(x: v128): v128 {
  return f64x2.promote_low_f32x4(x);
}

/** Lanes 2 and 3 of four float32 values, as float64 lanes. */
function high(x: v128): v128 {
  return f64x2.promote_low_f32x4(i64x2.shuffle(x, x, 1, 0));
}

/** Two pairs of float64 lanes rounded to float32, as four float32 lanes. */
function join(lo: v128, hi: v128): v128 {
  return i64x2.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 2);
}

/**
 * m·beta1 + keep1·g (first moment) of two values in float64 lanes: the exact product plus a
 * rounded product, rounded once to float64, then to float32 (fma32 in optimizers.ts).
 */
function moment1(g: v128, m: v128, keep1: v128, beta1: v128): v128 {
  return f64x2.add(f64x2.mul(g, keep1), r32(f64x2.mul(m, beta1)));
}

/** v·beta2 + (keep2·g)·g (second moment) of two values in float64 lanes, rounded like {@link moment1}. */
function moment2(g: v128, v: v128, keep2: v128, beta2: v128): v128 {
  return f64x2.add(f64x2.mul(r32(f64x2.mul(keep2, g)), g), r32(f64x2.mul(v, beta2)));
}

/**
 * One AdamW step over n values of p, g and the moments m, v (n a multiple of
 * 4, or up to 3 values past n touched: the buffers' padding). The constants
 * are the float32 ones of optimizers.ts's AdamWStep: decay = 1 - lr·wd,
 * keep = 1 - beta, stepSize = -lr / (1 - beta1^t), bc2Sqrt = √(1 - beta2^t).
 *
 * The moments' fused multiply-adds are done in float64 (two lanes), as in
 * JavaScript. The rest (products, quotients, the square root, sums) are
 * float32 operations, four lanes: JavaScript does them in float64 on float32
 * values and rounds to float32, which gives the same bits (a float64 result of
 * +, -, ×, ÷ or √ on float32 values rounds to the correctly rounded float32),
 * and the float32 division and square root cost a quarter of the float64 ones
 * per value.
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
  const cBeta1 = f64x2.splat(<f64>beta1);
  const cKeep1 = f64x2.splat(<f64>keep1);
  const cBeta2 = f64x2.splat(<f64>beta2);
  const cKeep2 = f64x2.splat(<f64>keep2);
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const g4 = v128.load(g + o);
    const m4 = v128.load(m + o);
    const v4 = v128.load(v + o);
    const gl = low(g4);
    const gh = high(g4);
    const mj = join(moment1(gl, low(m4), cKeep1, cBeta1), moment1(gh, high(m4), cKeep1, cBeta1));
    const vj = join(moment2(gl, low(v4), cKeep2, cBeta2), moment2(gh, high(v4), cKeep2, cBeta2));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vj), f32x4.splat(bc2Sqrt)), f32x4.splat(eps));
    const pj = f32x4.mul(v128.load(p + o), f32x4.splat(decay));
    v128.store(m + o, mj);
    v128.store(v + o, vj);
    v128.store(p + o, f32x4.add(pj, f32x4.div(f32x4.mul(f32x4.splat(stepSize), mj), denom)));
  }
}
