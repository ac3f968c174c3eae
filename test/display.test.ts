import * as fs from "fs";
import * as path from "path";
import * as vm from "vm";
import {
  bigramCounts,
  barFigure,
  countHeatmap,
  heatmapGridFigure,
  lineFigure,
  probabilityBar,
  show,
  showTable,
  Vocab,
} from "../lib/index";
import {
  compactFigure,
  figureBundle,
  figureHtml,
  figureText,
  PLOTLY_NBEXTENSION,
  scriptJson,
  tableCells,
  tableHtml,
  tableText,
} from "../lib/notebook/display";
import * as dfd from "danfojs-node";

const vocab = Vocab.fromWords(["ab", "ba", "abba"]);
const counts = bigramCounts(["ab", "ba", "abba"], vocab);

describe("bigram figures", () => {
  test("the count heatmap holds the counts and labels every cell with its bigram and count", () => {
    const fig = countHeatmap(counts, vocab);
    const trace = fig.data[0]!;
    expect(trace.type).toBe("heatmap");
    expect(trace.z).toEqual(counts);
    expect(trace.x).toEqual([".", "a", "b"]);
    const text = trace.text as string[][];
    expect(text).toHaveLength(3);
    // row '.', column 'a': names starting with a ("ab", "abba")
    expect(text[0]![1]).toBe(".a<br>2");
    expect(text[2]![2]).toBe("bb<br>1");
    expect(fig.layout.yaxis).toMatchObject({ autorange: "reversed" });
  });
  test("the probability bar has one bar per token", () => {
    const fig = probabilityBar([0.5, 0.25, 0.25], vocab, ".");
    expect(fig.data[0]).toMatchObject({ type: "bar", x: [".", "a", "b"], y: [0.5, 0.25, 0.25] });
    expect(figureText(fig)).toBe("Figure: P(next character | '.') (bar)");
  });
  test("line figures check their series", () => {
    expect(() => lineFigure([{ name: "s", x: [1, 2], y: [1] }], { title: "t" })).toThrow(/2 x and 1 y values/);
    const fig = lineFigure([{ name: "s", x: [1, 10], y: [3, 2] }], { title: "t", logX: true });
    expect(fig.layout.xaxis).toMatchObject({ type: "log" });
  });
  test("a bar figure: one trace per series over the same categories, grouped", () => {
    const kinds = ["bigram", "transformer"];
    expect(() => barFigure(kinds, [{ name: "names", y: [2.4] }], { title: "t" })).toThrow(/1 values for 2 categories/);
    const fig = barFigure(
      kinds,
      [
        { name: "names", y: [2.45, 1.95] },
        { name: "addition", y: [2.35, 1.18] },
      ],
      { title: "best loss", yTitle: "loss" },
    );
    expect(fig.data.map((t) => [t.type, t.name, t.x, t.y])).toEqual([
      ["bar", "names", kinds, [2.45, 1.95]],
      ["bar", "addition", kinds, [2.35, 1.18]],
    ]);
    expect(fig.layout).toMatchObject({ barmode: "group", showlegend: true });
  });
  test("a heatmap grid: one panel per matrix on its own axes, one color scale, titles above the panels", () => {
    expect(() => heatmapGridFigure([], { title: "t" })).toThrow(/at least one panel/);
    const z = (v: number): number[][] => [
      [v, 0],
      [0, v],
    ];
    const panels = [1, 2, 3].map((v) => ({ title: `head ${v}`, z: z(v / 4) }));
    const fig = heatmapGridFigure(panels, { title: "attention", x: ["0 .", "1 a"], y: ["0 .", "1 a"], columns: 2 });
    expect(fig.data.map((t) => [t.xaxis, t.yaxis, t.zmax, t.showscale])).toEqual([
      ["x", "y", 0.75, true],
      ["x2", "y2", 0.75, false],
      ["x3", "y3", 0.75, false],
    ]);
    expect(fig.data[2]!.z).toEqual(z(0.75));
    expect(fig.layout.grid).toMatchObject({ rows: 2, columns: 2, pattern: "independent" });
    expect(fig.layout.yaxis3).toMatchObject({ autorange: "reversed", type: "category" });
    const titles = fig.layout.annotations as { text: string; x: number; y: number }[];
    expect(titles.map((a) => [a.text, a.x, a.y])).toEqual([
      ["head 1", 0.25, 1],
      ["head 2", 0.75, 1],
      ["head 3", 0.25, 0.5],
    ]);
    expect(figureText(fig)).toBe("Figure: attention (heatmap, heatmap, heatmap)");
  });
});

describe("figure display", () => {
  test("the bundle has the plotly JSON, HTML and text forms", () => {
    const fig = probabilityBar([1, 0, 0], vocab, "a");
    const bundle = figureBundle(fig, "fixed-id");
    expect(bundle["application/vnd.plotly.v1+json"]).toEqual({
      data: fig.data,
      layout: fig.layout,
      config: fig.config,
    });
    expect(bundle["text/html"]).toContain('id="fixed-id"');
    expect(bundle["text/plain"]).toMatch(/^Figure: /);
  });
  test("figures keep 7 significant digits, enough for float32 values", () => {
    const fig = lineFigure([{ name: "s", x: [0, 1, 2], y: [2.133699893951416, Math.fround(0.1), 1e-9 / 3] }], {
      title: "t",
    });
    const bundle = figureBundle(fig, "p") as Record<string, { data: { x: number[]; y: number[] }[] }>;
    const trace = bundle["application/vnd.plotly.v1+json"]!.data[0]!;
    expect(trace.x).toEqual([0, 1, 2]);
    expect(trace.y).toEqual([2.1337, 0.1, 3.333333e-10]);
    expect(compactFigure(fig).layout).toEqual(fig.layout);
    expect(fig.data[0]!.y).toEqual([2.133699893951416, Math.fround(0.1), 1e-9 / 3]);
  });
  test("JSON inside the script cannot close the script element", () => {
    expect(scriptJson({ s: "</script><b>" })).not.toContain("</");
    expect(JSON.parse(scriptJson({ s: "</script>" }))).toEqual({ s: "</script>" });
  });
  test("the HTML carries the figure data, not plotly.js", () => {
    const fig = countHeatmap(counts, vocab);
    const html = figureHtml(fig, "plot-1");
    expect(html).toContain(scriptJson(fig.data));
    expect(html).not.toMatch(/plotly\.js v\d/);
    expect(html.length).toBeLessThan(5_000);
  });
  test("setup serves plotly.js where classic Notebook's figures load it (.jupyter is on JUPYTER_PATH)", () => {
    const served = path.join(__dirname, "..", ".jupyter", PLOTLY_NBEXTENSION);
    expect(fs.readFileSync(served, "utf8").slice(0, 100)).toMatch(/plotly\.js v\d/);
  });
  test("the figure script draws with window.Plotly when the page has it", () => {
    const page = fakePage({ Plotly: true });
    page.run(figureHtml(probabilityBar([1, 0, 0], vocab, "a"), "plot-1"));
    expect(page.drawn).toEqual(["plot-1"]);
    expect(page.scripts).toEqual([]);
  });
  test("in classic Notebook it loads plotly.js from the server once for every figure", async () => {
    const page = fakePage({ baseUrl: "/base/" });
    page.run(figureHtml(probabilityBar([1, 0, 0], vocab, "a"), "plot-1"));
    page.run(figureHtml(probabilityBar([0, 1, 0], vocab, "a"), "plot-2"));
    expect(page.scripts.map((s) => s.src)).toEqual([`/base/${PLOTLY_NBEXTENSION}`]);
    page.loadPlotly();
    await new Promise((r) => setImmediate(r));
    expect(page.drawn).toEqual(["plot-1", "plot-2"]);
  });
  test("in classic Notebook a missing plotly.js is one line in the plot's place", async () => {
    const page = fakePage({ baseUrl: "/" });
    page.run(figureHtml(probabilityBar([1, 0, 0], vocab, "a"), "plot-1"));
    page.scripts[0]!.onerror?.();
    await new Promise((r) => setImmediate(r));
    expect(page.text("plot-1")).toMatch(
      /^plotly\.js was not found at \/nbextensions\/makemore-ts\/plotly\.js: run npm run setup/,
    );
  });
  test("a page without plotly.js (a plain nbconvert export) says how to export", () => {
    const page = fakePage({});
    page.run(figureHtml(probabilityBar([1, 0, 0], vocab, "a"), "plot-1"));
    expect(page.drawn).toEqual([]);
    expect(page.text("plot-1")).toMatch(/^plotly\.js is not in this page: .*npm run export/);
  });
  test("outside a notebook show() prints the one-line description", () => {
    const lines: string[] = [];
    const spy = jest.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
    try {
      show(countHeatmap(counts, vocab, "counts"));
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual(["Figure: counts (heatmap)"]);
  });
});

/** A fake script element of {@link fakePage}. */
interface FakeScript {
  src: string;
  onload?: () => void;
  onerror?: () => void;
}

/**
 * A browser page just large enough for the figure script: elements by id,
 * `<body data-base-url>` as classic Notebook writes it, script elements
 * appended to the head, and timers that run at once.
 */
function fakePage(options: { Plotly?: boolean; baseUrl?: string }) {
  const drawn: string[] = [];
  const scripts: FakeScript[] = [];
  const elements = new Map<string, { id: string; textContent: string }>();
  const plotly = { newPlot: (el: { id: string }) => void drawn.push(el.id) };
  const win: Record<string, unknown> = options.Plotly ? { Plotly: plotly } : {};
  const document = {
    getElementById: (id: string) => {
      if (!elements.has(id)) elements.set(id, { id, textContent: "" });
      return elements.get(id);
    },
    body: { getAttribute: (name: string) => (name === "data-base-url" ? (options.baseUrl ?? null) : null) },
    createElement: (): FakeScript => ({ src: "" }),
    head: { appendChild: (s: FakeScript) => void scripts.push(s) },
  };
  const context = vm.createContext({ window: win, document, Promise, setTimeout: (f: () => void) => f() });
  return {
    drawn,
    scripts,
    text: (id: string) => elements.get(id)?.textContent ?? "",
    run(html: string): void {
      const script = html.split('<script type="text/javascript">')[1]!.split("</script>")[0]!;
      vm.runInContext(script, context);
    },
    loadPlotly(): void {
      win.Plotly = plotly;
      for (const s of scripts) s.onload?.();
    },
  };
}

describe("tables", () => {
  const rows = [
    { variant: "W2*0.01, b2*0 (softmax fix)", train: 2.0732, val: 2.1296, seconds: 21 },
    { variant: "Kaiming W1 <5/3>", train: 2.0409, val: null, seconds: 20 },
  ];
  test("a DataFrame: its index as row labels, every column, numbers right-aligned", () => {
    const cells = tableCells(new dfd.DataFrame(rows));
    expect(cells.header).toEqual(["", "variant", "train", "val", "seconds"]);
    expect(cells.rows[0]).toEqual(["0", "W2*0.01, b2*0 (softmax fix)", "2.0732", "2.1296", "21"]);
    expect(cells.numeric).toEqual([true, false, true, true, true]);
  });
  test("records: the keys in order of appearance, no index unless asked for", () => {
    const cells = tableCells([{ a: 1 }, { b: "x", a: 2 }]);
    expect(cells).toEqual({
      header: ["a", "b"],
      rows: [
        ["1", ""],
        ["2", "x"],
      ],
      numeric: [true, false],
    });
    expect(tableCells([{ a: 1 }], { index: true }).header).toEqual(["", "a"]);
  });
  test("HTML: a pandas-style table with whole, escaped cells", () => {
    const html = tableHtml(tableCells(new dfd.DataFrame(rows)), "every variant");
    expect(html).toMatch(/^<table border="1" class="dataframe makemore-table"><caption>every variant<\/caption>/);
    expect(html).toContain('<td style="text-align: left;">W2*0.01, b2*0 (softmax fix)</td>');
    expect(html).toContain(">Kaiming W1 &lt;5/3&gt;</td>");
    expect(html).toContain("<tr><th>1</th>");
    expect(html).toContain('<td style="text-align: right;">2.0732</td>');
    expect(html).not.toMatch(/[║│…]/);
  });
  test("text: aligned columns, nothing cut", () => {
    expect(tableText(tableCells(rows)).split("\n")).toEqual([
      "variant                       train     val  seconds",
      "W2*0.01, b2*0 (softmax fix)  2.0732  2.1296       21",
      "Kaiming W1 <5/3>             2.0409               20",
    ]);
  });
  test("digits: decimals of the numbers that are not integers", () => {
    expect(tableCells([{ loss: 2.25502687, steps: 20000 }], { digits: 4 }).rows).toEqual([["2.2550", "20000"]]);
  });
  test("a Series is a one-column table", () => {
    const series = new dfd.DataFrame(rows)["train"] as unknown as Parameters<typeof tableCells>[0];
    expect(tableCells(series).rows).toEqual([
      ["0", "2.0732"],
      ["1", "2.0409"],
    ]);
  });
  test("outside a notebook showTable() prints the text form", () => {
    const lines: string[] = [];
    const spy = jest.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
    try {
      showTable(rows.slice(0, 1), { caption: "one" });
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual([
      "one\nvariant                       train     val  seconds\nW2*0.01, b2*0 (softmax fix)  2.0732  2.1296       21",
    ]);
  });
});
