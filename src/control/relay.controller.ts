import { All, Controller, HttpCode } from '@nestjs/common';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { InvalidParameterError } from '../common/errors';
import { RelayInfo, RelayService } from '../stream/relay/relay.service';
import { RequestParam } from './request-param.decorator';

/** LiveGo's relay endpoints: pull a far-end stream in, push a local one out. */
@Controller('control')
export class RelayController {
  constructor(private readonly relays: RelayService) {}

  @All('pull')
  @HttpCode(200)
  pull(
    @RequestParam('oper') oper?: string,
    @RequestParam('app') app?: string,
    @RequestParam('name') name?: string,
    @RequestParam('url') url?: string,
  ): ApiEnvelope<RelayInfo | string> {
    if (operation(oper) === 'start') return envelope(200, this.relays.startPull(app, name, url));
    this.relays.stopPull(app, name);
    return envelope(200, 'Ok');
  }

  @All('push')
  @HttpCode(200)
  push(
    @RequestParam('oper') oper?: string,
    @RequestParam('app') app?: string,
    @RequestParam('name') name?: string,
    @RequestParam('url') url?: string,
  ): ApiEnvelope<RelayInfo | string> {
    if (operation(oper) === 'start') return envelope(200, this.relays.startPush(app, name, url));
    this.relays.stopPush(app, name, url);
    return envelope(200, 'Ok');
  }
}

function operation(oper: string | undefined): 'start' | 'stop' {
  if (oper === 'start' || oper === 'stop') return oper;
  throw new InvalidParameterError('oper must be start or stop');
}
