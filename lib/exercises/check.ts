/**
 * What every exercise check shares: the answer it gives (a {@link CheckResult}:
 * correct, not yet, or cannot check), the reading of a learner's numbers,
 * tensors and functions, and the wrapper that turns any failure into a
 * sentence instead of a stack trace.
 *
 * A check never throws. A value it cannot use gives a "malformed" result that
 * says what is wrong with it; a wrong value gives an "incorrect" result that
 * says how far off it is, in which direction, and a hint that names the
 * likely mistake without handing over the answer.
 *
 * @module
 */
import { inspect } from "util";
import type * as tfjs from "@tensorflow/tfjs";
import { tf } from "../runtime/tf";

/** What a check concluded. */
export type Verdict = "correct" | "incorrect" | "malformed";

/** An exercise: its number ("1.1": lecture 1, first exercise) and a short title. */
export interface Exercise {
  /** lecture and position, e.g. "1.1" */
  id: string;
  /** a few words, e.g. "trigram by counting" */
  title: string;
}

/** What a check found, before it is tied to its exercise. */
export interface Judgement {
  /** correct, incorrect (a wrong value) or malformed (a value the check cannot use) */
  verdict: Verdict;
  /** what was found, in one or two sentences */
  message: string;
  /** where to look next, without the answer; only for incorrect and malformed answers */
  hint?: string;
}

const HEADLINES: Readonly<Record<Verdict, string>> = {
  correct: "correct",
  incorrect: "not yet",
  malformed: "cannot check this answer yet",
};

/**
 * The answer of a check. In a notebook, a check cell ends with the check call,
 * and the kernel prints this result as a few lines of text; tests read its fields.
 */
export class CheckResult implements Judgement {
  readonly verdict: Verdict;
  readonly message: string;
  readonly hint?: string;

  constructor(
    readonly exercise: Exercise,
    judgement: Judgement,
  ) {
    this.verdict = judgement.verdict;
    this.message = judgement.message;
    if (judgement.hint !== undefined) this.hint = judgement.hint;
  }

  /** whether the answer is right */
  get correct(): boolean {
    return this.verdict === "correct";
  }

  /** The result as the notebook shows it: a headline, the message, the hint. */
  toString(): string {
    const { id, title } = this.exercise;
    const lines = [`Exercise ${id} (${title}): ${HEADLINES[this.verdict]}`, `  ${this.message}`];
    if (this.hint && this.verdict !== "correct") lines.push(`  Hint: ${this.hint}`);
    return lines.join("\n");
  }

  /** console.log (and the kernel's display of a cell's last value) prints the text form */
  [inspect.custom](): string {
    return this.toString();
  }
}

/** A learner's value the check cannot use: becomes a "malformed" result. */
export class AnswerError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "AnswerError";
  }
}

/** The judgement for a value the check cannot use. */
export function malformed(message: string, hint?: string): Judgement {
  return hint === undefined ? { verdict: "malformed", message } : { verdict: "malformed", message, hint };
}

/** The judgement for a wrong value. */
export function incorrect(message: string, hint: string): Judgement {
  return { verdict: "incorrect", message, hint };
}

/** The judgement for a right value. */
export function correct(message: string): Judgement {
  return { verdict: "correct", message };
}

/** Runs `fn` and frees every tensor it made (like tf.tidy, for results that are not tensors). */
export function inScope<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** The first line of an error's message (no stack). */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0] ?? text;
}

function fromError(e: unknown): Judgement {
  if (e instanceof AnswerError) return malformed(e.message, e.hint);
  return malformed(
    `the check itself failed (${firstLine(e)}); this is a bug in lib/exercises, not in your answer`,
    "run the cell again; if it persists, report it with the cell's code",
  );
}

/** A check that answers at once: every failure inside `judge` becomes a "malformed" result. */
export function defineCheck<A>(exercise: Exercise, judge: (answer: A) => Judgement): (answer: A) => CheckResult {
  return (answer: A) => {
    try {
      return new CheckResult(exercise, judge(answer));
    } catch (e) {
      return new CheckResult(exercise, fromError(e));
    }
  };
}

/** {@link defineCheck} for a check that trains or waits: `await` its result. */
export function defineAsyncCheck<A>(
  exercise: Exercise,
  judge: (answer: A) => Promise<Judgement>,
): (answer: A) => Promise<CheckResult> {
  return async (answer: A) => {
    try {
      return new CheckResult(exercise, await judge(answer));
    } catch (e) {
      return new CheckResult(exercise, fromError(e));
    }
  };
}

/** A loss or other float with four decimals. */
export const fmt = (x: number, digits = 4): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** A fraction as a percentage: "0.052%", "3.1%", "110%". */
export const percent = (fraction: number): string => {
  const p = 100 * fraction;
  return `${p >= 10 ? Math.round(p) : p.toPrecision(2)}%`;
};

/** A count with thousands separators. */
export const count = (n: number): string => n.toLocaleString("en-US");

function isTensor(value: unknown): value is tfjs.Tensor {
  return value instanceof tf.Tensor;
}

/** The shape of a tensor as the lecture prints it: [228146, 27]. */
export const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** A learner's value in a few words: "undefined (no value yet)", "a tensor of shape [2]", "a string (2.21)". */
export function describeValue(value: unknown): string {
  if (value === undefined) return "undefined (no value yet)";
  if (value === null) return "null (no value yet)";
  if (isTensor(value)) return `a tensor of shape ${shapeText(value.shape)}`;
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  return `${typeof value === "object" ? "an object" : `a ${typeof value}`} (${String(value).slice(0, 40)})`;
}

/**
 * Reads a number: a plain number or a tensor holding one value. A missing
 * value or anything else is an {@link AnswerError}, and so is NaN unless
 * `allowNaN`; ±Infinity is returned (several checks explain where an
 * infinity comes from).
 */
export function readNumber(name: string, value: unknown, options: { allowNaN?: boolean } = {}): number {
  let x: number;
  if (typeof value === "number") x = value;
  else if (isTensor(value) && value.size === 1) x = value.dataSync()[0] as number;
  else throw new AnswerError(`${name} should be a number, but it is ${describeValue(value)}`);
  if (Number.isNaN(x) && !options.allowNaN) {
    throw new AnswerError(
      `${name} is NaN (not a number)`,
      "put your answer in place of the starter's NaN (or look for a 0/0 on the way)",
    );
  }
  return x;
}

/** Reads a finite number (see {@link readNumber}); an infinity is malformed too. */
export function readFinite(name: string, value: unknown): number {
  const x = readNumber(name, value);
  if (!Number.isFinite(x)) throw new AnswerError(`${name} is ${x}`, "a log of 0 or a division by 0 on the way");
  return x;
}

/** Reads a field of an answer object, with a message naming the path when it is missing. */
export function field(answer: unknown, path: string): unknown {
  let value: unknown = answer;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object") {
      throw new AnswerError(`the answer has no ${path}: it is ${describeValue(answer)}`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined) throw new AnswerError(`the answer has no ${path}`);
  return value;
}

/**
 * Checks that a learner's result is a tensor of `shape` with finite values.
 * @param meaning - what the shape stands for, e.g. "one row of 27 logits per input"
 */
export function checkTensor(name: string, value: unknown, shape: readonly number[], meaning: string): tfjs.Tensor {
  if (!isTensor(value)) throw new AnswerError(`${name} should be a tensor, but it is ${describeValue(value)}`);
  if (value.shape.join(",") !== shape.join(",")) {
    throw new AnswerError(
      `${name} has shape ${shapeText(value.shape)}; expected ${shapeText(shape)} (${meaning})`,
      "print the shape of each step (`x.shape`) to find where it changes",
    );
  }
  const bad = tf.tidy(() => tf.logicalNot(tf.isFinite(value)).sum().dataSync()[0] as number);
  if (bad > 0) throw new AnswerError(`${name} holds ${count(bad)} NaN or infinite values`);
  return value;
}

/**
 * Calls a learner's function; its error (or a value that is not a function)
 * becomes an {@link AnswerError} naming it.
 */
export function callAnswer<R>(name: string, fn: unknown, ...args: unknown[]): R {
  if (typeof fn !== "function") throw new AnswerError(`${name} should be a function, but it is ${describeValue(fn)}`);
  try {
    return (fn as (...a: unknown[]) => R)(...args);
  } catch (e) {
    throw new AnswerError(`${name} threw an error: ${firstLine(e)}`, "run it on a small input in a cell of its own");
  }
}

/** A value a wrong answer typically gives, and the hint for it. */
export interface Mistake {
  /** the value the mistake gives */
  value: number;
  /** what to look at when the answer has this value */
  hint: string;
}

/** How to judge a number against the right value. */
export interface NumberJudge {
  /** what the number is, e.g. "loss" */
  name: string;
  /** the right value */
  expected: number;
  /** largest accepted difference */
  tolerance: number;
  /** the message of a right answer (none when the caller goes on to check more) */
  correct?: string;
  /** values of typical mistakes; the nearest within the tolerance gives its hint */
  mistakes?: readonly Mistake[];
  /** the hint when no known mistake fits */
  hint: string;
  /** decimals shown (default 4) */
  digits?: number;
}

/** "Your loss 2.1857 is 0.0268 too low." */
export function offBy(name: string, got: number, expected: number, digits = 4): string {
  if (!Number.isFinite(got)) return `Your ${name} is ${got}.`;
  const d = got - expected;
  const size = Math.abs(d) >= 10 ** -digits ? fmt(Math.abs(d), digits) : Math.abs(d).toExponential(1);
  return `Your ${name} ${fmt(got, digits)} is ${size} too ${d > 0 ? "high" : "low"}.`;
}

/** The known mistake whose value is nearest to `got`, if one is within `tolerance`. */
export function nearestMistake(got: number, mistakes: readonly Mistake[], tolerance: number): Mistake | undefined {
  const near = mistakes.filter((m) => Math.abs(m.value - got) <= tolerance || m.value === got);
  return near.sort((a, b) => Math.abs(a.value - got) - Math.abs(b.value - got))[0];
}

/** Right within the tolerance; else how far off, with the hint of the nearest known mistake. */
export function judgeNumber(got: number, j: NumberJudge): Judgement {
  if (Math.abs(got - j.expected) <= j.tolerance) return correct(j.correct ?? "");
  const mistake = nearestMistake(got, j.mistakes ?? [], j.tolerance);
  return incorrect(offBy(j.name, got, j.expected, j.digits), mistake?.hint ?? j.hint);
}
