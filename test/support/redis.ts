/**
 * A throwaway Redis for the queue tests: Debian's redis-server on a random
 * 127.0.0.1 port, with a password, no persistence, in a temporary folder;
 * and worker processes that can be killed as a lost machine would be.
 */
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { BIN, ROOT, tempDir } from "./cli";

/** Where redis-server is, or null. */
export function findRedisServer(): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).concat(["/usr/bin", "/usr/sbin"])) {
    const file = path.join(dir, "redis-server");
    if (dir && fs.existsSync(file)) return file;
  }
  return null;
}

/**
 * Whether the queue tests can run. They skip (with a line saying why) only
 * when redis-server is missing and setup could not have installed it (not
 * root); as root, setup installs it, so a missing server is a failure.
 */
export function redisAvailable(): boolean {
  if (findRedisServer()) return true;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (root) throw new Error("redis-server is missing although setup runs as root: run 'node scripts/setup.js'");
  console.warn("queue tests skipped: redis-server is not installed (sudo apt-get install redis-server)");
  return false;
}

/** A running throwaway Redis. */
export interface TestRedis {
  /** redis://:PASSWORD@127.0.0.1:PORT */
  url: string;
  /** the password */
  password: string;
  port: number;
  /** stops the server and removes its folder */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`redis-server exited with ${child.exitCode}`));
      const sock = net.connect(port, "127.0.0.1", () => {
        sock.end();
        resolve();
      });
      sock.on("error", () => {
        if (Date.now() > deadline) reject(new Error(`redis-server did not open port ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts redis-server on a random localhost port with a random password. */
export async function startRedis(): Promise<TestRedis> {
  const server = findRedisServer() as string;
  const dir = tempDir("mm-redis-");
  const password = `pw-${Math.random().toString(36).slice(2)}-${process.pid}`;
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn(server, [...args, "--dir", dir, "--requirepass", password], { stdio: "ignore" });
  await waitForPort(port, child, 10000);
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    password,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.on("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs redis-cli against the test server (for what the tests do behind the CLI's back). */
export function redisCli(redis: TestRedis, args: readonly string[]): string {
  const r = spawnSync("redis-cli", ["-p", String(redis.port), "--no-auth-warning", "-a", redis.password, ...args], {
    encoding: "utf8",
  });
  return r.stdout.trim();
}

/** A `makemore ...` process in its own process group, with its output collected as it comes. */
export interface Proc {
  child: ChildProcess;
  /** stdout and stderr so far */
  output(): string;
  /** resolves once `pattern` shows up in the output */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** resolves with the exit code (null when killed) once the process ends */
  exited: Promise<number | null>;
  /** {@link exited}, or an error with the output so far once `ms` pass: a hang names what hung */
  exit(ms?: number): Promise<number | null>;
  /** SIGKILL to the whole group: the process and the workers it forked, as when a machine is lost */
  killGroup(): void;
}

/** Starts `node bin/makemore.js ...args` in its own process group. */
export function startMakemore(args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, MAKEMORE_BACKEND: "wasm", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let text = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d.toString("utf8");
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    output: () => text,
    exited,
    exit: (ms = 300000) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`makemore ${args.join(" ")} still runs after ${ms / 1000} s:\n${text}`)),
          ms,
        );
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    killGroup: () => process.kill(-(child.pid as number), "SIGKILL"),
    waitFor: (pattern, ms = 60000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}:\n${text}`)), ms);
        const check = (): void => {
          const m = pattern.exec(text);
          if (m) done(null, m);
        };
        function done(err: Error | null, m?: RegExpExecArray): void {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve(m as RegExpExecArray);
        }
        listeners.add(check);
        check();
      }),
  };
}

/** Every file under a folder, for checks that no secret was written. */
export function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f));
}
