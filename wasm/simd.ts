// Vector helpers shared by the kernel files (the module does not export them).

/**
 * c + a·b, four lanes: fused (one rounding) in the relaxed-SIMD build, a
 * rounded product then a rounded sum in the plain build. The condition is a
 * compile-time constant: each build holds one of the two.
 */
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Stores the first min(r, 4) lanes of v at p, added to what is there when acc. */
export function storeLanes(p: usize, v: v128, r: i32, acc: i32): void {
  if (r >= 4) {
    v128.store(p, acc ? f32x4.add(v, v128.load(p)) : v);
    return;
  }
  let x = f32x4.extract_lane(v, 0);
  if (acc) x += load<f32>(p);
  store<f32>(p, x);
  if (r > 1) {
    x = f32x4.extract_lane(v, 1);
    if (acc) x += load<f32>(p, 4);
    store<f32>(p, x, 4);
  }
  if (r > 2) {
    x = f32x4.extract_lane(v, 2);
    if (acc) x += load<f32>(p, 8);
    store<f32>(p, x, 8);
  }
}
