/**
 * What the two sides of a distributed grid share: the grid command
 * (lib/experiments/queue-search.ts) puts one BullMQ job per configuration on
 * a Redis queue, and workers (lib/experiments/queue-worker.ts) on any machine
 * take them, train them with {@link runExperiment} and send back the files of
 * the run folder.
 *
 * This module holds the names both sides must agree on (the queue, the Redis
 * keys, the deterministic search and job ids), the shapes of a job and of its
 * result, the Redis connection, and the redaction of queue URLs: a URL may
 * carry a password, and no message, log or file may show it.
 *
 * @module
 */
import * as crypto from "crypto";
import * as path from "path";
import IORedis, { type RedisOptions } from "ioredis";
import { z } from "zod";
import { DATASET_NAMES } from "../data/datasets";
import { BACKENDS } from "../runtime/backend";
import type { ExperimentResult } from "./experiment";
import { ConfigError, configIdentity, resolveConfig, type ExperimentConfig } from "./hyperparams";
import { firstIssue, RUN_FILES } from "./run-files";

/** Name of the one BullMQ queue every search and every worker uses. */
export const QUEUE_NAME = "makemore";

/** Prefix of the keys this project keeps beside BullMQ's own. */
const KEY_PREFIX = "makemore";

/** Side keys (snapshots, datasets, cancel flags) expire after a week without a search touching them. */
export const SIDE_KEY_SECONDS = 7 * 24 * 3600;

/** A lowercase hex string of `n` digits. */
const hex = (n: number): z.ZodString => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`), `expected ${n} hex digits`);

/** A number, NaN and ±Infinity included (losses of runs that diverged or never evaluated). */
const anyNumber = z.custom<number>((v) => typeof v === "number", "expected a number");

/** File contents as base64. */
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "expected base64");

/** The files a job may carry: the run files by their bare names, nothing else. */
const runFiles = z.partialRecord(z.enum(Object.values(RUN_FILES) as [string, ...string[]]), base64);

/**
 * Where a job's dataset comes from: a registry name every machine has, with
 * the content hash of the lines the grid command loaded (a worker whose copy
 * differs refuses the job), or lines the grid command uploaded, found on
 * Redis by that hash. `name` is a label for config.json, never opened.
 */
export const datasetRefSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("name"), name: z.enum(DATASET_NAMES), sha256: hex(64) }),
  z.strictObject({ kind: z.literal("text"), name: z.string().max(4096), sha256: hex(64) }),
]);

/** Where a job's dataset comes from. */
export type DatasetRef = z.infer<typeof datasetRefSchema>;

/**
 * The data of one job: everything a worker needs to train one
 * configuration, as data only (ids and tags of a safe shape, no paths). The
 * configuration is checked by resolveConfig as any run's is.
 */
export const jobDataSchema = z.strictObject({
  /** the search the job belongs to */
  searchId: hex(16),
  /** the run's tag (its folder is OUT/<tag> on the grid command's machine) */
  tag: hex(6),
  /** the configuration */
  config: z.record(z.string(), z.unknown()),
  /** parameters of its model (already checked against --max-params) */
  params: z.number().int().nonnegative(),
  /** the dataset */
  dataset: datasetRefSchema,
  /** the backend the grid command asked for, if any */
  backend: z.enum(BACKENDS).optional(),
  /** --max-line-length: a worker loading a registry dataset leaves out longer lines, as the grid command did */
  maxLineLength: z.number().int().positive().optional(),
});

/** The data of one job, its configuration resolved. */
export type QueueJobData = Omit<z.infer<typeof jobDataSchema>, "config"> & { config: ExperimentConfig };

/**
 * A job's data checked: the schema, then the configuration as any run's.
 * @throws ConfigError with one line naming the first problem.
 */
export function readJobData(raw: unknown): QueueJobData {
  const data = parseWire(jobDataSchema, raw, "the job");
  return { ...data, config: resolveConfig(data.config, "the job's configuration") };
}

/** What a finished job returns: the experiment's result and the files of its run folder. */
export const jobPayloadSchema = z.strictObject({
  /** the result of runExperiment */
  result: z.object({
    tag: hex(6),
    status: z.enum(["finished", "early-stopped", "target-reached", "interrupted", "diverged"]),
    config: z.record(z.string(), z.unknown()),
    params: z.number().int().nonnegative(),
    steps: z.number().int().nonnegative(),
    bestValLoss: anyNumber,
    bestTrainLoss: anyNumber,
    bestStep: z.number().int(),
    seconds: anyNumber,
    target: z.object({ step: z.number().int(), seconds: anyNumber }).nullable(),
    samples: z.array(z.string()),
    message: z.string().optional(),
  }),
  /** the run folder's files by name, base64 (config.json, log.csv, model.ckpt, last.ckpt, samples.txt) */
  files: runFiles,
  /** the worker that trained it */
  worker: z.string().max(512),
  /** the step the run was restarted from after a stall, or null when it ran from the start */
  resumedFrom: z.number().int().nonnegative().nullable(),
});

/** What a finished job returns. */
export type QueueJobPayload = Omit<z.infer<typeof jobPayloadSchema>, "result"> & { result: ExperimentResult };

/** A snapshot of a running job: its files at its latest best checkpoint (what a restart continues from). */
export const snapshotSchema = z.strictObject({
  /** step of the checkpoint */
  step: z.number().int().nonnegative(),
  /** config.json, model.ckpt, last.ckpt and log.csv, base64 */
  files: runFiles,
});

/** A snapshot of a running job. */
export type JobSnapshot = z.infer<typeof snapshotSchema>;

/**
 * Checks a value against a schema.
 * @param what - what it is, for the message ("the job", "the snapshot of job X").
 * @throws ConfigError with one line: what, and its first problem.
 */
export function parseWire<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${what} is not valid: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/** The light progress a worker reports with job.updateProgress (for displays and time estimates). */
export interface JobProgress {
  /** steps done */
  step: number;
  /** the run's last step */
  maxSteps: number;
  /** best val loss so far */
  bestValLoss: number | null;
}

/** A search id: the same output folder and dataset give the same id, so a second grid command attaches. */
export function searchIdOf(outDir: string, input: string): string {
  return sha256(`${path.resolve(outDir)}\0${input}`).slice(0, 16);
}

/** A job id: the search and the configuration's identity (BullMQ ignores a second job with the same id). */
export function jobIdOf(searchId: string, config: ExperimentConfig): string {
  return `${searchId}-${sha256(configIdentity(config)).slice(0, 20)}`;
}

/**
 * Deterministic run tags for a search's configurations (6 hex digits, like
 * random tags): hashed from the job id, re-hashed on the rare collision.
 */
export function searchTags(jobIds: readonly string[]): string[] {
  const used = new Set<string>();
  return jobIds.map((id) => {
    let tag = sha256(id).slice(0, 6);
    for (let n = 1; used.has(tag); n++) tag = sha256(`${id}#${n}`).slice(0, 6);
    used.add(tag);
    return tag;
  });
}

/** Redis key of a job's latest snapshot. */
export function snapshotKey(jobId: string): string {
  return `${KEY_PREFIX}:snapshot:${jobId}`;
}

/** Redis key of the flag that marks a search cancelled. */
export function cancelKey(searchId: string): string {
  return `${KEY_PREFIX}:search:${searchId}:cancelled`;
}

/** Redis key of an uploaded dataset, by content (searches on the same file share it). */
export function datasetKey(sha: string): string {
  return `${KEY_PREFIX}:dataset:${sha}`;
}

/** The sha256 of a string or bytes, hex. */
export function sha256(data: string | Uint8Array): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** A queue URL as it may be shown: the password replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "<queue URL>";
  }
}

/**
 * Removes the URL's secrets from a text (an error message, say): the whole
 * URL becomes its redacted form, and the password wherever it appears alone.
 */
export function scrub(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  let password = "";
  try {
    password = new URL(url).password;
  } catch {
    return out;
  }
  for (const secret of new Set([password, safeDecode(password)])) {
    if (secret.length > 0) out = out.split(secret).join("***");
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Checks a --queue value: a redis:// or rediss:// (TLS) URL.
 * @throws ConfigError naming the redacted URL.
 */
export function checkQueueUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--queue must be a URL such as redis://HOST:PORT, got ${redactUrl(url)}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new ConfigError(`--queue must be a redis:// or rediss:// URL, got ${redactUrl(url)}`);
  }
  // ioredis reads the path as a database number and throws an uncaught error for anything else
  if (!/^\/?\d*$/.test(u.pathname) || u.search !== "") {
    throw new ConfigError(`--queue ${redactUrl(url)}: after HOST:PORT only a database number may follow, such as /0`);
  }
  return url;
}

/** A Redis connection to a queue URL, with errors kept (scrubbed) instead of printed by ioredis. */
export interface QueueConnection {
  /** the connection (BullMQ duplicates it for its blocking commands) */
  redis: IORedis;
  /** the URL as it may be shown */
  shown: string;
  /** removes the URL's secrets from a text */
  scrub(text: string): string;
  /** the last connection error, scrubbed */
  lastError(): string | null;
  /** closes the connection */
  close(): Promise<void>;
}

/**
 * Opens a connection and waits until Redis answers. `failFast` (the grid
 * command) gives up after `timeoutMs`; workers keep retrying for as long as
 * Redis is away, as BullMQ expects (maxRetriesPerRequest null).
 * @throws ConfigError for a bad URL; Error (scrubbed) when Redis cannot be reached in time.
 */
export async function openQueue(
  url: string,
  options: { failFast?: boolean; timeoutMs?: number } = {},
): Promise<QueueConnection> {
  checkQueueUrl(url);
  const { failFast = false, timeoutMs = 5000 } = options;
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectionName: "makemore",
    ...(failFast ? { retryStrategy: (times: number) => (times > 3 ? null : 200 * times) } : {}),
  };
  const redis = new IORedis(url, redisOptions);
  let last: string | null = null;
  // without a listener ioredis prints each error itself, unscrubbed
  redis.on("error", (e: Error) => {
    last = scrub(e.message, url);
  });
  const conn: QueueConnection = {
    redis,
    shown: redactUrl(url),
    scrub: (text) => scrub(text, url),
    lastError: () => last,
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  try {
    await withTimeout(redis.connect(), timeoutMs, "timed out");
    await withTimeout(redis.ping(), timeoutMs, "no answer to PING");
  } catch (e) {
    redis.disconnect();
    throw new Error(
      `cannot reach the queue at ${conn.shown}: ${whyUnreachable(last ?? conn.scrub((e as Error).message))}`,
    );
  }
  await selectDatabase(conn, url);
  return conn;
}

/**
 * Selects the URL's database again, and refuses one Redis does not have: ioredis
 * reports a failed SELECT as an error event and then goes on with database 0.
 * @throws ConfigError naming the database.
 */
async function selectDatabase(conn: QueueConnection, url: string): Promise<void> {
  const db = Number(new URL(url).pathname.slice(1) || "0");
  try {
    await conn.redis.select(db);
  } catch (e) {
    await conn.close();
    throw new ConfigError(`--queue ${conn.shown}: Redis has no database ${db} (${conn.scrub((e as Error).message)})`);
  }
}

/** What a connection error means, in words: a refused password reads otherwise than a wrong port. */
function whyUnreachable(error: string): string {
  if (/WRONGPASS|invalid password/i.test(error)) return `it refused the password (${error.split(" ")[0]})`;
  if (/NOAUTH/i.test(error)) return "it needs a password (redis://:PASSWORD@HOST:PORT)";
  if (/ECONNREFUSED/.test(error)) return "nothing answers at that host and port (connection refused)";
  if (/ENOTFOUND|EAI_AGAIN/.test(error)) return "no such host";
  return error;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * JSON that keeps NaN and ±Infinity (losses of runs that diverged or never
 * evaluated), which plain JSON would turn into null.
 */
export function toWire(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === "number" && !Number.isFinite(v) ? { $num: String(v) } : v,
  );
}

/** Reads what {@link toWire} wrote. */
export function fromWire<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === "object" && "$num" in v && Object.keys(v).length === 1) {
      return Number((v as { $num: string }).$num);
    }
    return v;
  }) as T;
}
