import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as dfd from "danfojs-node";
import { tf } from "../lib/runtime/tf";

describe("danfojs-node (aliased onto plain @tensorflow/tfjs)", () => {
  const df = new dfd.DataFrame({ variant: ["original", "kaiming"], train: [2.1245, 2.0377], val: [2.1682, 2.107] });

  test("a DataFrame loads and has the shape and columns given", () => {
    expect(df.shape).toEqual([2, 3]);
    expect(df.columns).toEqual(["variant", "train", "val"]);
    expect(df["val"].values).toEqual([2.1682, 2.107]);
  });

  test("prints as a table", () => {
    const lines: string[] = [];
    const spy = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
    try {
      df.print();
    } finally {
      spy.mockRestore();
    }
    const out = lines.join("\n");
    expect(out).toContain("kaiming");
    expect(out).toContain("2.1682");
  });

  test("writes CSV that reads back", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mm-dfd-")), "losses.csv");
    dfd.toCSV(df, { filePath: file });
    expect(fs.readFileSync(file, "utf8").trim().split("\n")).toEqual([
      "variant,train,val",
      "original,2.1245,2.1682",
      "kaiming,2.0377,2.107",
    ]);
  });

  test("shares the engine of the lib's tf (one tfjs-core in the process)", () => {
    // danfojs requires @tensorflow/tfjs-node, which the override resolves to plain tfjs
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const danfoTf = require("@tensorflow/tfjs-node") as typeof tf;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(require("@tensorflow/tfjs-node/package.json").name).toBe("@tensorflow/tfjs");
    expect(danfoTf.engine()).toBe(tf.engine());
  });
});
