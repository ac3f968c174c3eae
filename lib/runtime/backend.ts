/**
 * Choosing the TensorFlow.js backend: the native binding when it really
 * works, else WebAssembly, else plain JavaScript. MAKEMORE_BACKEND=node|wasm|cpu
 * forces one. The choice is printed once per process.
 *
 * @module
 */
import { tf, nativeUnavailableReason } from "./tf";

/** The backends this project runs on. */
export type BackendName = "node" | "wasm" | "cpu";

/** Names of the backends, fastest first. */
export const BACKENDS: readonly BackendName[] = ["node", "wasm", "cpu"];

const TF_NAME: Record<BackendName, string> = { node: "tensorflow", wasm: "wasm", cpu: "cpu" };

let announced = false;

/**
 * Parses a backend name (from a flag or MAKEMORE_BACKEND).
 * @throws Error with one clear line for anything else.
 */
export function parseBackend(name: string, source = "backend"): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`${source} must be one of ${BACKENDS.join(", ")}; got '${name}'`);
}

/** The backend in use now, or null before {@link initBackend}. */
export function currentBackend(): BackendName | null {
  const active = tf.getBackend();
  const found = BACKENDS.find((b) => TF_NAME[b] === active);
  return found ?? null;
}

async function activate(name: BackendName): Promise<boolean> {
  if (name === "node") return tf.getBackend() === "tensorflow";
  if (name === "wasm") {
    // Importing the package registers the backend with the engine of plain @tensorflow/tfjs.
    await import("@tensorflow/tfjs-backend-wasm");
  }
  try {
    const ok = (await tf.setBackend(TF_NAME[name])) && tf.getBackend() === TF_NAME[name];
    if (ok && name === "cpu") quietCpuBanner();
    return ok;
  } catch {
    return false;
  }
}

/**
 * For code that makes tensors before {@link initBackend} chose a backend
 * (sizing a model for a memory estimate): lets tfjs pick its default now and
 * keeps the cpu backend's banner quiet, which would be noise there.
 */
export function quietDefaultBackend(): void {
  tf.backend(); // picks and initializes the default: the instance the banner flag must be set on
  quietCpuBanner();
}

/**
 * The cpu backend prints a "looks like you are running TensorFlow.js in Node.js"
 * banner on first use; the backend line printed here says the same, once.
 */
function quietCpuBanner(): void {
  const backend = tf.findBackend("cpu") as unknown as { firstUse?: boolean } | null;
  if (backend && "firstUse" in backend) backend.firstUse = false;
}

/**
 * Selects and initializes the backend, once per process (later calls return
 * the backend already chosen unless another one is asked for).
 *
 * @param requested - a backend to force; default: MAKEMORE_BACKEND, else the fastest that works.
 * @param options - `quiet`: do not print the backend line (a caller that reports it itself).
 * @returns the backend in use.
 * @throws Error when a forced backend cannot run here.
 */
export async function initBackend(requested?: BackendName, options: { quiet?: boolean } = {}): Promise<BackendName> {
  const env = process.env.MAKEMORE_BACKEND;
  const forced = requested ?? (env ? parseBackend(env, "MAKEMORE_BACKEND") : undefined);
  const current = currentBackend();
  if (announced && current && (!forced || forced === current)) return current;
  let chosen: BackendName | undefined;
  if (forced) {
    if (!(await activate(forced))) {
      const why = forced === "node" ? `: ${nativeUnavailableReason || "the native binding is not loaded"}` : "";
      throw new Error(`backend '${forced}' cannot run here${why}`);
    }
    chosen = forced;
  } else {
    for (const b of BACKENDS) {
      if (await activate(b)) {
        chosen = b;
        break;
      }
    }
  }
  if (!chosen) throw new Error("no TensorFlow.js backend could start");
  await tf.ready();
  if (!announced || current !== chosen) {
    const note = chosen !== "node" && nativeUnavailableReason ? ` (${nativeUnavailableReason})` : "";
    // In a notebook the line belongs in the cell output; in scripts and the CLI it goes to
    // stderr so that what a command prints (samples, tables) can be piped cleanly.
    const stream = process.env.MAKEMORE_KERNEL ? process.stdout : process.stderr;
    if (!options.quiet) stream.write(`makemore: tfjs backend ${chosen}${note}\n`);
    announced = true;
  }
  return chosen;
}
