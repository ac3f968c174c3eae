/** First byte after this module's static data: where lib/engines/kernels.ts starts its buffers. */
export function heapBase(): usize {
  return __heap_base;
}
