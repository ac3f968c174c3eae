/**
 * The bench's ratios to PyTorch: each row's time over the faster PyTorch
 * row's (at 1 thread or at every core) of the same model.
 *
 * @module
 */

/** A timed row of the bench, ours or PyTorch's. */
export interface Timed {
  model: string;
  engine: string;
  us_per_step: number;
  torch_ratio?: number | null;
  eval_torch_ratio?: number | null;
}

/** Sets torch_ratio (step) and eval_torch_ratio (evaluation, `evalSeconds`) of every row, model by model. */
export function setTorchRatios<R extends Timed>(rows: R[], evalSeconds: (r: R) => number): void {
  for (const r of rows) {
    const torch = rows.filter((t) => t.model === r.model && t.engine === "pytorch");
    const step = Math.min(...torch.map((t) => t.us_per_step));
    const evaluation = Math.min(...torch.map(evalSeconds));
    r.torch_ratio = torch.length > 0 ? r.us_per_step / step : null;
    r.eval_torch_ratio = torch.length > 0 ? evalSeconds(r) / evaluation : null;
  }
}
