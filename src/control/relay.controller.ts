import { All, applyDecorators, Controller, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelopeDoc, ApiRequestParam } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { InvalidParameterError } from '../common/errors';
import { RelayInfo, RelayService } from '../stream/relay/relay.service';
import { RequestParam } from './request-param.decorator';

/** LiveGo's relay endpoints: pull a far-end stream in, push a local one out. */
@ApiTags('relays')
@ApiBearerAuth('jwt')
@Controller('control')
export class RelayController {
  constructor(private readonly relays: RelayService) {}

  @All('pull')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Start or stop pulling an rtmp(s):// URL into local app/name (no key needed)',
  })
  @ApiRelayCall(409, 'app/name already has a publisher or is already pulled')
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
  @ApiOperation({ summary: 'Start or stop pushing local app/name to an rtmp(s):// URL' })
  @ApiRelayCall(409, 'app/name is already pushed to that URL')
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

function ApiRelayCall(conflict: number, conflictText: string): MethodDecorator {
  return applyDecorators(
    ApiRequestParam('oper', 'start or stop'),
    ApiRequestParam('app', 'a configured app'),
    ApiRequestParam('name', 'the local room'),
    ApiRequestParam('url', 'rtmp:// or rtmps:// URL of the far end (start; stop of a push)', false),
    ApiEnvelopeDoc(200, 'started (relay description) or stopped ("Ok")', 'Ok'),
    ApiEnvelopeDoc(400, 'bad oper, app, name or url', 'url must be an rtmp:// or rtmps:// URL'),
    ApiEnvelopeDoc(404, 'stop of a relay that does not exist', 'no pull relay into live/x'),
    ApiEnvelopeDoc(conflict, conflictText, 'live/x already has a publisher'),
  );
}

function operation(oper: string | undefined): 'start' | 'stop' {
  if (oper === 'start' || oper === 'stop') return oper;
  throw new InvalidParameterError('oper must be start or stop');
}
