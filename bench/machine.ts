/**
 * What the bench ran on: the CPU and its SIMD features, the cores, the
 * runtimes, and which build of the kernels ran.
 *
 * @module
 */
import * as fs from "fs";
import * as os from "os";
import { kernelBuild } from "../lib/engines/kernels";

/** The build a process loads here when nothing forces one (read before the bench switches builds). */
const defaultBuild = kernelBuild();

export interface Machine {
  cpu: string;
  /** the CPU's vector instruction sets (x86's SSE/AVX/FMA/AMX families, Arm's NEON/SVE) */
  simd: string[];
  cores: number;
  memory_gib: number;
  node: string;
  v8: string;
  /** the kernels' builds the fused rows ran on, and the one a process loads by default here */
  kernels: string;
  /** PyTorch's version, or why there is none */
  torch: string;
}

/** The CPU's SIMD feature flags, from /proc/cpuinfo (none where it does not exist). */
function simdFlags(): string[] {
  if (!fs.existsSync("/proc/cpuinfo")) return [];
  const line = fs
    .readFileSync("/proc/cpuinfo", "utf8")
    .split("\n")
    .find((l) => /^(flags|Features)\s*:/.test(l));
  const flags = (line ?? "").split(":")[1]?.trim().split(/\s+/) ?? [];
  return flags.filter((f) => /^(sse|ssse3|avx|fma|f16c|amx|neon|asimd|sve)/.test(f));
}

export function machine(torch: string, builds: readonly string[]): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    simd: simdFlags(),
    cores: cpus.length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    kernels: `${builds.join(" and ")} (default here: ${defaultBuild ?? "none"})`,
    torch,
  };
}

/** The machine in one line for the table's heading. */
export function describeMachine(m: Machine): string {
  const simd = m.simd.filter((f) => /^(sse4_2|avx|avx2|fma|avx512f|avx512_vnni|neon|asimd|sve)$/.test(f)).join(" ");
  return `${m.cpu} (${simd || "no SIMD flags read"}), ${m.cores} cores, ${m.memory_gib} GiB, node ${m.node}, kernels ${m.kernels}, ${m.torch}`;
}
