// The entry of the fused training kernels (compiled to wasm/build/kernels.wasm
// and kernels-relaxed.wasm by `npm run setup`; see wasm/README.md). It only
// re-exports: the kernel files import each other, never this one.
//
// Every function works on float32 (or int32) buffers addressed by byte
// offsets into the module's linear memory, which lib/engines/kernels.ts lays
// out. Matrices are row-major. The loops use 128-bit SIMD (f32x4) along the
// contiguous axis.

export * from "./gemm";
export * from "./layers";
export * from "./sequence";
export * from "./attention";
export * from "./adamw";
export * from "./recurrent";
export * from "./heap";
