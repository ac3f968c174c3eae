/**
 * makemore-ts: the helper code the notebooks import. One module per concept;
 * everything is re-exported here, so a notebook (kernel at the project root)
 * writes `import * as mm from "./lib";` or imports names directly.
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
export * from "./tf";
export * from "./backend";
export * from "./figure";
export * from "./display";
export * from "./plots-bigram";
export * from "./model";
export * from "./datasets";
