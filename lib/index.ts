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
export * from "./runtime/files";
export * from "./random/generator";
export * from "./random/seeds";
export * from "./random/torch";
export * from "./random/python";
export * from "./data/lines";
export * from "./data/vocab";
export * from "./data/contexts";
export * from "./data/datasets";
export * from "./data/sequences";
export * from "./data/examples";
export * from "./nn/ops";
export * from "./nn/ops-interface";
export * from "./nn/eager";
export * from "./nn/layers";
export * from "./nn/backprop";
export * from "./nn/stats";
export * from "./models/counts";
export * from "./models/sample";
export * from "./models/model";
export * from "./models/spec";
export * from "./models/trigram";
export * from "./models/registry";
export * from "./models/deep";
export * from "./models/hierarchical";
export * from "./models/nn-bigram";
export * from "./models/mlp";
export * from "./models/parts";
export * from "./models/transformer";
export * from "./models/rnn";
export * from "./models/bow";
export * from "./models/makemore-mlp";
export * from "./models/makemore-bigram";
export * from "./engines/kernels";
export * from "./engines/engine";
export * from "./engines/factory";
export * from "./engines/fused-engine";
export * from "./engines/graph-net";
export * from "./engines/gradient-check";
export * from "./engines/tfjs-engine";
export * from "./optim/optimizers";
export * from "./training/schedule";
export * from "./training/evaluate";
export * from "./training/train";
export * from "./notebook/by-hand";
export * from "./training/lr-finder";
export * from "./plots/figure";
export * from "./plots/bigram";
export * from "./plots/stats";
export * from "./plots/training";
export * from "./plots/learning-curves";
export * from "./notebook/quick";
export * from "./notebook/display";
export * from "./notebook/progress";
export * from "./notebook/runs-board";
// the notebooks' train: the training loop with the live progress display
export { train } from "./notebook/progress";
export * from "./experiments/runlog";
export * from "./experiments/checkpoint";
export * from "./experiments/run-files";
export * from "./experiments/run-model";
export * from "./experiments/run-plan";
export * from "./experiments/hyperparams";
export * from "./experiments/experiment";
export * from "./experiments/grid";
export * from "./experiments/run-lock";
export * from "./experiments/run-data";
export * from "./experiments/data-record";
export * from "./experiments/limits";
export * from "./experiments/step-cost";
