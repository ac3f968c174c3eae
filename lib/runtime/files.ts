/**
 * File writes that readers never see half done, and reads that stop at a
 * stated size.
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Why a write failed, in words (the errno codes a full or read-only disk gives). */
const WRITE_FAILURES: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is used up",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EIO: "an input/output error",
  EFBIG: "the file is too large for the file system",
};

/** A write that did not complete; the file it was to replace is unchanged. */
export class WriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WriteError";
  }
}

/** Writes every byte of `bytes` to `fd` (a short write goes on where it stopped; writing nothing is an error). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error(`wrote ${done} of ${bytes.length} bytes`), { code: "ENOSPC" });
    done += n;
  }
}

/** Flushes a folder's entries (the rename) to disk; some file systems cannot, which changes nothing. */
function syncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // EISDIR/EINVAL on file systems without directory fsync
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Writes a file so that readers see either the old content or the new one,
 * never a mix: the data goes to a temporary file in the same folder, every
 * byte is checked written and flushed to disk, and only then is it renamed
 * over the target. On any failure (a full disk, say) the temporary file is
 * removed and the old file stays as it was.
 * @throws WriteError with one line: the file, why, and that the old one is kept.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const unique = `${process.pid}.${crypto.randomBytes(3).toString("hex")}`;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${unique}.tmp`);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      writeAll(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const why = WRITE_FAILURES[code] ?? (e as Error).message.split("\n")[0];
    const kept = fs.existsSync(file) ? `; the previous ${path.basename(file)} is kept` : "";
    throw new WriteError(`cannot write ${file}: ${why}${kept}`);
  }
  syncFolder(path.dirname(file));
}

/** Limits of what the lib reads whole. */
export const READ_LIMITS = Object.freeze({
  /** a dataset file */
  data: 256 * 2 ** 20,
  /** a JSON file: config.json, a grid file, a lock file */
  json: 2 ** 20,
  /** a grid's search.json and results (a row per configuration) */
  table: 16 * 2 ** 20,
  /** a run's log.csv */
  log: 64 * 2 ** 20,
});

/** "256 MB", "1 MB" */
function megabytes(n: number): string {
  return `${Math.round(n / 2 ** 20)} MB`;
}

/**
 * Reads a whole file, refusing one larger than `maxBytes` with one line:
 * a regular file by its size before reading, anything else (a pipe,
 * /dev/zero) once that much has come.
 * @param what - what the file is, for the message ("a dataset", "a grid file").
 * @param fail - makes the error (default Error); callers pass their own error class.
 * @throws the error from `fail` when the file is larger; fs errors (ENOENT, EISDIR) as they are.
 */
export function readFileBounded(
  file: string,
  maxBytes: number,
  what: string,
  fail: (message: string) => Error = (m) => new Error(m),
): Buffer {
  const tooLarge = (): Error =>
    fail(`cannot read ${file}: it holds more than ${megabytes(maxBytes)}, the limit for ${what}`);
  const fd = fs.openSync(file, "r");
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isFile() && stat.size > maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(2 ** 20, maxBytes + 1 - total));
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge();
    }
    return Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}
