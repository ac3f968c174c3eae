// @ts-check
/** Paths and names shared by the setup, start and notebook-runner scripts. */
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");

/** The Python that runs Jupyter: Debian's, unless MAKEMORE_PYTHON names another. */
const python = process.env.MAKEMORE_PYTHON || (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

module.exports = {
  root,
  python,
  /** Project-local Jupyter data folder: kernels live here, not in ~/.local/share/jupyter. */
  jupyterPath: path.join(root, ".jupyter"),
  kernelName: "makemore-ts",
  kernelDisplayName: "TypeScript (makemore-ts)",
};
