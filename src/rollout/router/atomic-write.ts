/**
 * The file router's atomic write (`file-router.ts`): a rewrite is either entirely there or not at all, and is refused
 * when someone changed the file in between.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `text` over `file` atomically: a temporary file in the same directory (hidden, so the loader skips it),
 * fsync, rename, fsync of the directory. `unchanged(current)` is asked with the file's current content just before
 * the rename; when it answers false nothing is written and false is returned. Symlinks are followed (the target is
 * replaced), and the file's mode is kept.
 */
export async function writeAtomically(
  file: string,
  text: string,
  unchanged: (current: string) => Promise<boolean>,
): Promise<boolean> {
  const real = await realpath(file);
  const dir = dirname(real);
  const tmp = join(dir, `.${basename(real)}.weir-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const mode = (await stat(real)).mode & 0o7777;
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (!(await unchanged(await readFile(real, 'utf8')))) return false;
    await rename(tmp, real);
    renamed = true;
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } catch {
      // Some file systems cannot fsync a directory; the rename itself is atomic.
    } finally {
      await dh.close();
    }
    return true;
  } finally {
    if (!renamed) await unlink(tmp).catch(() => {});
  }
}
