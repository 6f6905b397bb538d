import { Injectable, PipeTransform } from '@nestjs/common';
import { errorText, InvalidParameterError } from '../common/errors';
import { isValidName, NAME_RULE } from '../common/names';
import { parseRtmpUrl, RtmpUrl } from '../common/urls';

/*
 * Pipes for @RequestParam: each turns the raw text (or undefined) into the typed value a service takes,
 * or answers 400 saying what is allowed. Services never see `unknown`.
 */

/** A room (`room`, `name`) or an app (`app`): 1-128 of `[A-Za-z0-9_.-]`, not starting with `.`. */
export class NamePipe implements PipeTransform<string | undefined, string> {
  constructor(private readonly param: string) {}

  transform(value: string | undefined): string {
    if (value === undefined || value === '') {
      throw new InvalidParameterError(`${this.param} is required; it ${NAME_RULE}`);
    }
    if (!isValidName(value))
      throw new InvalidParameterError(`invalid ${this.param}: it ${NAME_RULE}`);
    return value;
  }
}

export const RoomPipe = new NamePipe('room');

/** `id` of `/control/kick`: a session id, a positive integer in decimal. */
@Injectable()
export class SessionIdPipe implements PipeTransform<string | undefined, number> {
  transform(value: string | undefined): number {
    const id = value !== undefined && /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(id))
      throw new InvalidParameterError('id must be a session id (a positive integer)');
    return id;
  }
}

/** `oper=start|stop` of the relay endpoints. */
@Injectable()
export class OperPipe implements PipeTransform<string | undefined, 'start' | 'stop'> {
  transform(value: string | undefined): 'start' | 'stop' {
    if (value === 'start' || value === 'stop') return value;
    throw new InvalidParameterError('oper must be start or stop');
  }
}

/** `url` of a relay: an rtmp(s):// URL with a host, an app and a stream (the one RTMP URL validator). */
@Injectable()
export class RtmpUrlPipe implements PipeTransform<string | undefined, RtmpUrl | undefined> {
  transform(value: string | undefined): RtmpUrl | undefined {
    if (value === undefined || value === '') return undefined;
    try {
      return parseRtmpUrl(value);
    } catch (error) {
      throw new InvalidParameterError(`url ${errorText(error)}`);
    }
  }
}

/** `room` of `/stat/livestat`: absent or empty for every stream, else `room` or `app/room`. */
@Injectable()
export class StreamFilterPipe implements PipeTransform<string | undefined, string | undefined> {
  transform(value: string | undefined): string | undefined {
    if (value === undefined || value === '') return undefined;
    const parts = value.split('/');
    if (parts.length > 2 || !parts.every(isValidName)) {
      throw new InvalidParameterError(
        `invalid room: give room or app/room, where each ${NAME_RULE}`,
      );
    }
    return value;
  }
}

/** A required value: 400 `<name> is required` when absent. */
export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new InvalidParameterError(`${name} is required`);
  return value;
}
