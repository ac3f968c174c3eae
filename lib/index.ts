/**
 * makemore-ts: the helper code the notebooks import. One module per concept;
 * everything is re-exported here, so a notebook (kernel at the project root)
 * writes `import * as mm from "./lib/index";` or imports names directly
 * (tslab resolves a folder import only through its index file).
 *
 * @module
 */
export * from "./runtime/paths";
export * from "./runtime/tf";
export * from "./runtime/backend";
export * from "./random/generator";
export * from "./data/lines";
export * from "./data/vocab";
export * from "./data/contexts";
export * from "./data/datasets";
export * from "./nn/ops";
export * from "./nn/layers";
export * from "./nn/stats";
export * from "./models/counts";
export * from "./models/sample";
export * from "./models/model";
export * from "./models/deep";
export * from "./models/nn-bigram";
export * from "./models/mlp";
export * from "./engines/kernels";
export * from "./engines/fused";
export * from "./training/evaluate";
export * from "./training/train";
export * from "./training/lr-finder";
export * from "./plots/figure";
export * from "./plots/bigram";
export * from "./plots/stats";
export * from "./plots/training";
export * from "./notebook/quick";
export * from "./notebook/display";
export * from "./experiments/runlog";
export * from "./experiments/checkpoint";
export * from "./experiments/hyperparams";
export * from "./experiments/experiment";
export * from "./experiments/grid";
export * from "./experiments/run-lock";
export * from "./experiments/run-data";
export * from "./experiments/limits";
