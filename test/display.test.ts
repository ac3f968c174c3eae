import * as vm from "vm";
import {
  bigramCounts,
  countHeatmap,
  figureBundle,
  figureHtml,
  figureText,
  lineFigure,
  plotlyLoaderHtml,
  PLOTLY_LOADER_BEGIN,
  probabilityBar,
  scriptJson,
  show,
  Vocab,
} from "../lib/index";

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
  test("JSON inside the script cannot close the script element", () => {
    expect(scriptJson({ s: "</script><b>" })).not.toContain("</");
    expect(JSON.parse(scriptJson({ s: "</script>" }))).toEqual({ s: "</script>" });
  });
  test("the figure script draws with window.Plotly once it exists", () => {
    const fig = probabilityBar([1, 0, 0], vocab, "a");
    const html = figureHtml(fig, "plot-1");
    const script = html.split('<script type="text/javascript">')[1]!.split("</script>")[0]!;
    const calls: unknown[][] = [];
    const el = { id: "plot-1", textContent: "" };
    const sandbox = {
      window: { Plotly: { newPlot: (...args: unknown[]) => calls.push(args) } },
      document: { getElementById: (id: string) => (id === "plot-1" ? el : null) },
      setTimeout: () => undefined,
    };
    vm.runInNewContext(script, sandbox);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBe(el);
    expect(calls[0]![1]).toEqual(fig.data);
  });
  test("the loader hides an AMD define while the bundle runs and restores it", () => {
    const html = plotlyLoaderHtml();
    expect(html.startsWith(PLOTLY_LOADER_BEGIN)).toBe(true);
    const scripts = html
      .split('<script type="text/javascript">')
      .slice(1)
      .map((s) => s.split("</script>")[0]!);
    expect(scripts).toHaveLength(3);
    const define = Object.assign(() => undefined, { amd: {} });
    const win: Record<string, unknown> = { define };
    const context = vm.createContext({ window: win, self: win });
    // run in a browser-like global: window is the global object
    win.window = win;
    vm.runInContext(scripts[0]!, context);
    expect(win.define).toBeUndefined();
    vm.runInContext(scripts[2]!, context);
    expect(win.define).toBe(define);
    expect(scripts[1]!.length).toBeGreaterThan(1_000_000);
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
