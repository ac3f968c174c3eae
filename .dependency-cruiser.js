/**
 * The import rules `npm run check` holds (dependency-cruiser): no import cycle
 * anywhere, and lib/'s folders in the order of lib/README.md, each importing
 * only from the folders before it (and itself). Type-only imports follow the
 * same order: none points down the list.
 */

/** lib/'s folders, lowest first: the order of lib/README.md. */
const LAYERS = [
  "runtime",
  "random",
  "data",
  "nn",
  "optim",
  "models",
  "engines",
  "training",
  "plots",
  "notebook",
  "experiments",
  "exercises",
];

/** One rule per folder: nothing in it imports a folder after it. */
const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `lib/${layer}/ imports only ${LAYERS.slice(0, i + 1).join(", ")} (lib/README.md's order)`,
  severity: "error",
  from: { path: `^lib/${layer}/` },
  to: { path: `^lib/(${LAYERS.slice(i + 1).join("|")})/` },
}));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "an import cycle, type-only imports included",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "lib-folders",
      comment: `every folder of lib/ is one of the layers (${LAYERS.join(", ")})`,
      severity: "error",
      from: { path: "^lib/[^/]+/", pathNot: `^lib/(${LAYERS.join("|")})/` },
      to: {},
    },
    {
      name: "lib-stays-in-lib",
      comment: "the lib imports nothing of the command, tests, bench or scripts",
      severity: "error",
      from: { path: "^lib/" },
      to: { path: "^(cli|test|bench|scripts|bin)/" },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
