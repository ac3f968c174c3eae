/**
 * The helpers behind notebooks 09 and 10: the live table of several runs and
 * the learning curves of several runs read from their logs.
 */
import { learningCurvesFigure, runsBoard, type RunProgressLike } from "../lib/index";
import { curvePoints } from "../lib/plots/learning-curves";

const progress = (step: number, extra: Partial<RunProgressLike> = {}): RunProgressLike => ({
  step,
  maxSteps: 100,
  loss: 2.123456,
  bestValLoss: 2.5,
  stepsPerSecond: 5,
  finished: false,
  ...extra,
});

describe("runsBoard", () => {
  let log: jest.SpyInstance;
  beforeEach(() => (log = jest.spyOn(console, "log").mockImplementation(() => undefined)));
  afterEach(() => log.mockRestore());

  test("shows one row per run: waiting, then its size, engine, step, losses, speed and time left", () => {
    const board = runsBoard(["gru", "transformer"], { valName: "test" });
    expect(board.text().split("\n")).toEqual([
      expect.stringMatching(/^run +parameters +engine +step +loss +best test +steps\/s +status$/),
      expect.stringMatching(/^gru +waiting$/),
      expect.stringMatching(/^transformer +waiting$/),
    ]);
    const gru = board.track("gru");
    gru.onStart({ params: 35797, engine: "fused" });
    gru.onProgress(progress(10));
    expect(board.text().split("\n")[1]).toMatch(/^gru +35797 +fused +10\/100 +2\.1235 +2\.5 +5 +18s left$/);
    gru.onProgress(progress(100, { finished: true, stepsPerSecond: 4.96 }));
    expect(board.text().split("\n")[1]).toMatch(/^gru +35797 +fused +100\/100 +2\.1235 +2\.5 +5 +done$/);
    expect(board.text().split("\n")[2]).toMatch(/^transformer +waiting$/);
  });

  test("outside a notebook prints the row that changed, at most once per interval", () => {
    const board = runsBoard(["bow"], { minIntervalMs: 60_000 });
    const bow = board.track("bow");
    bow.onProgress(progress(1));
    bow.onProgress(progress(2));
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0]![0]).toMatch(/^bow +1\/100 +2\.1235/);
  });

  test("refuses a run it does not list", () => {
    const board = runsBoard(["gru"]);
    expect(() => board.track("rnn").onProgress(progress(1))).toThrow("no run 'rnn' on this board: gru");
  });
});

describe("learningCurvesFigure", () => {
  const rows = (losses: [number, number, number][]) =>
    losses.map(([step, trainLoss, valLoss]) => ({ step, trainLoss, valLoss }));

  test("two traces per run in the run's color: the held-out loss solid, the training loss dashed", () => {
    const fig = learningCurvesFigure(
      [
        {
          name: "gru",
          rows: rows([
            [0, 4.4, 4.5],
            [500, 2.1, 2.2],
          ]),
        },
        {
          name: "rnn",
          rows: rows([
            [0, 4.3, 4.4],
            [500, NaN, 2.3],
          ]),
        },
      ],
      { title: "names", valName: "test" },
    );
    expect(fig.data.map((t) => [t.name, t.x, t.y, (t.line as { dash: string }).dash])).toEqual([
      ["gru test", [0, 500], [4.5, 2.2], "solid"],
      ["gru train", [0, 500], [4.4, 2.1], "dash"],
      ["rnn test", [0, 500], [4.4, 2.3], "solid"],
      ["rnn train", [0, 500], [4.3, null], "dash"],
    ]);
    const color = (i: number) => (fig.data[i]!.line as { color: string }).color;
    expect(color(0)).toBe(color(1));
    expect(color(0)).not.toBe(color(2));
    expect(fig.data.map((t) => t.legendgroup)).toEqual(["gru", "gru", "rnn", "rnn"]);
  });

  test("a resumed run's log: rows in step order, the later row of a repeated step counts", () => {
    const resumed = rows([
      [0, 4, 4],
      [500, 3, 3.1],
      [1000, 2.5, 2.6],
      [1000, 2.4, 2.55],
      [1500, 2.3, 2.5],
    ]);
    expect(curvePoints([resumed[4]!, ...resumed.slice(0, 4)]).map((p) => p.step)).toEqual([0, 500, 1000, 1500]);
    expect(curvePoints(resumed).map((p) => p.valLoss)).toEqual([4, 3.1, 2.55, 2.5]);
  });

  test("refuses a run without a logged evaluation", () => {
    expect(() => learningCurvesFigure([{ name: "bow", rows: [] }], { title: "t" })).toThrow(
      "run 'bow' has no logged evaluation",
    );
  });
});
