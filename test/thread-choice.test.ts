/**
 * The thread choice (lib/engines/thread-choice.ts): an engine on a pool times
 * its steps threaded and on one thread, alternately, after 2 steps and again
 * after 1,000, and keeps the faster way between (test/threads.test.ts: the
 * losses do not depend on the choice).
 */
import { ThreadChoice } from "../lib/engines/thread-choice";

/** A net whose step takes `on` or `off` milliseconds of a fake clock, recording which way each step ran. */
function fakeNet(on: number, off: number) {
  let now = 0;
  const net = { threaded: true, ways: [] as boolean[] };
  const step = (): number => {
    net.ways.push(net.threaded);
    now += net.threaded ? on : off;
    return net.ways.length;
  };
  return { net, step, clock: () => now };
}

test("the first steps alternate runs of 3 threaded and 3 not after 2 threaded, then the faster way stays", () => {
  const { net, step, clock } = fakeNet(10, 6);
  const choice = new ThreadChoice(clock);
  const out = Array.from({ length: 40 }, () => choice.time(net, step));
  expect(out.slice(0, 3)).toEqual([1, 2, 3]); // each step's own result is passed on
  const ways = net.ways.map((w) => (w ? "T" : "1")).join("");
  expect(ways).toBe("TT" + "TTT111".repeat(5) + "1".repeat(8));
  expect(choice.choice).toBe(false);
  expect(net.threaded).toBe(false);
});

test("threads stay when they are faster, and when one thread is faster by less than 5%", () => {
  for (const [on, off] of [
    [6, 10],
    [10, 9.6],
  ] as const) {
    const { net, step, clock } = fakeNet(on, off);
    const choice = new ThreadChoice(clock);
    for (let i = 0; i < 40; i++) choice.time(net, step);
    expect({ on, off, choice: choice.choice, threaded: net.threaded }).toEqual({
      on,
      off,
      choice: true,
      threaded: true,
    });
  }
});

test("a timing again from step 1,000 can take back the first choice", () => {
  let now = 0;
  let n = 0;
  const net = { threaded: true, ways: "" };
  // one thread is faster for the first 500 steps (a slow spell of the pool), threads after
  const step = (): void => {
    n++;
    net.ways += net.threaded ? "T" : "1";
    now += net.threaded ? (n <= 500 ? 12 : 8) : 10;
  };
  const choice = new ThreadChoice(() => now);
  for (let i = 0; i < 1100; i++) choice.time(net, step);
  expect(net.ways.slice(32, 1000)).toBe("1".repeat(968)); // the first choice
  expect(net.ways.slice(1000, 1030)).toBe("TTT111".repeat(5)); // timed again
  expect(net.ways.slice(1030)).toBe("T".repeat(70));
  expect(choice.choice).toBe(true);
});

test("a slow spell of the machine during one run does not decide: the medians do", () => {
  let now = 0;
  let n = 0;
  const net = { threaded: true };
  // threaded 8 ms, one thread 10 ms, but the 3rd threaded run (steps 14-16) hit a 50 ms spell
  const step = (): void => {
    n++;
    now += (net.threaded ? 8 : 10) + (n >= 15 && n <= 17 ? 50 : 0);
  };
  const choice = new ThreadChoice(() => now);
  for (let i = 0; i < 40; i++) choice.time(net, step);
  expect(choice.choice).toBe(true);
});
