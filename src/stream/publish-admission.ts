import { Injectable } from '@nestjs/common';
import { errorText } from '../common/errors';
import { isValidName } from '../common/names';
import { AppConfig, findApp } from '../config/app-config';
import { KeyService } from '../key/key.service';

export type Admission =
  | { readonly admitted: true; readonly room: string; readonly key: string | undefined }
  | { readonly admitted: false; readonly code: string; readonly reason: string };

const BAD_NAME = 'NetStream.Publish.BadName';

/**
 * Decides whether a publish name may publish on an app (SPEC §5): the app must be configured with
 * `live: true` and the name must be a live key, or with `rtmp_noauth` a valid room name. The store may be
 * Redis: a store that does not answer refuses (fails closed).
 */
@Injectable()
export class PublishAdmission {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeyService,
  ) {}

  async admit(app: string, name: string): Promise<Admission> {
    const entry = findApp(this.config, app);
    if (!entry || !entry.live) {
      return {
        admitted: false,
        code: BAD_NAME,
        reason: `application "${app}" does not accept publishing`,
      };
    }
    if (!isValidName(name))
      return { admitted: false, code: BAD_NAME, reason: 'invalid stream name' };
    let room: string | undefined;
    try {
      room = await this.keys.roomForPublishName(name, this.config.rtmp_noauth);
    } catch (error) {
      return {
        admitted: false,
        code: 'NetStream.Publish.Unauthorized',
        reason: `key check failed: ${errorText(error)}`,
      };
    }
    if (room === undefined) {
      return { admitted: false, code: BAD_NAME, reason: 'unknown or revoked stream key' };
    }
    return { admitted: true, room, key: room === name ? undefined : name };
  }
}
