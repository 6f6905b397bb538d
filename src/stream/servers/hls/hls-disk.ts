import { accessSync, constants, mkdirSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { errorText } from '../../../common/errors';
import { ConfigError } from '../../../config/config.error';

/**
 * `hls_dir`: finished HLS segments on disk, `{hls_dir}/{app}/{file}`. Each is written to a temporary
 * name and renamed, so a reader never sees half a file; it is removed when it leaves the window.
 * Nothing else in the folder is touched (files another run left there are not ours to delete).
 */
export class HlsDisk {
  private readonly logger = new Logger(HlsDisk.name);
  private readonly root: string;
  private readonly made = new Set<string>();
  private failures = 0;

  constructor(dir: string) {
    this.root = resolve(dir);
    try {
      mkdirSync(this.root, { recursive: true });
      accessSync(this.root, constants.W_OK);
    } catch (error) {
      throw new ConfigError(`hls_dir ${this.root} is not usable: ${errorText(error)}`);
    }
  }

  async save(app: string, name: string, data: Buffer): Promise<string> {
    const dir = join(this.root, app);
    const path = join(dir, name);
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      if (!this.made.has(dir)) {
        mkdirSync(dir, { recursive: true });
        this.made.add(dir);
      }
      await writeFile(temporary, data);
      await rename(temporary, path);
      return path;
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      // One line per 100 failures: a full disk must not flood the log; segments stay in memory.
      if (this.failures++ % 100 === 0)
        this.logger.error(
          `hls_dir: cannot write ${path} (${errorText(error)}); keeping it in memory`,
        );
      throw error;
    }
  }

  remove(path: string): void {
    unlink(path).catch(() => undefined);
  }
}
