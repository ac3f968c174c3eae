/**
 * File writes that readers never see half done.
 *
 * @module
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/**
 * Writes a file so that readers see either the old content or the new one,
 * never a mix: the data goes to a temporary file in the same folder, is
 * flushed to disk, and then renamed over the target.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const unique = `${process.pid}.${crypto.randomBytes(3).toString("hex")}`;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${unique}.tmp`);
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
