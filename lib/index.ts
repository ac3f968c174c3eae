/**
 * makemore-ts: the helper code the notebooks import. One module per concept;
 * everything is re-exported here, so a notebook (kernel at the project root)
 * writes `import * as mm from "./lib/index";` or imports names directly
 * (tslab resolves a folder import only through its index file).
 *
 * @module
 */
export * from "./data";
export * from "./vocab";
export * from "./random";
export * from "./bigram";
export * from "./dataset";
export * from "./sample";
export * from "./quick";
export * from "./paths";
export * from "./tf";
export * from "./backend";
export * from "./figure";
export * from "./display";
export * from "./plots-bigram";
export * from "./model";
export * from "./ops";
export * from "./datasets";
export * from "./layers";
export * from "./deep";
export * from "./stats";
export * from "./plots-stats";
export * from "./nn-bigram";
export * from "./mlp";
export * from "./evaluate";
export * from "./kernels";
export * from "./fused";
export * from "./train";
export * from "./lr-finder";
export * from "./plots-training";
export * from "./runlog";
export * from "./checkpoint";
export * from "./hyperparams";
export * from "./experiment";
export * from "./grid";
