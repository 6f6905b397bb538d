import { All, applyDecorators, Controller, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelopeDoc, ApiRequestParam } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import type { RtmpUrl } from '../common/urls';
import { RelayInfo, RelayService } from '../stream/relay/relay.service';
import { RequestParam } from './request-param.decorator';
import { NamePipe, OperPipe, required, RtmpUrlPipe } from './request-params.pipes';

const AppPipe = new NamePipe('app');
const StreamNamePipe = new NamePipe('name');

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
    @RequestParam('oper', OperPipe) oper: 'start' | 'stop',
    @RequestParam('app', AppPipe) app: string,
    @RequestParam('name', StreamNamePipe) name: string,
    @RequestParam('url', RtmpUrlPipe) url: RtmpUrl | undefined,
  ): ApiEnvelope<RelayInfo | string> {
    if (oper === 'start')
      return envelope(200, this.relays.startPull(app, name, required(url, 'url')));
    this.relays.stopPull(app, name);
    return envelope(200, 'Ok');
  }

  @All('push')
  @HttpCode(200)
  @ApiOperation({ summary: 'Start or stop pushing local app/name to an rtmp(s):// URL' })
  @ApiRelayCall(409, 'app/name is already pushed to that URL')
  push(
    @RequestParam('oper', OperPipe) oper: 'start' | 'stop',
    @RequestParam('app', AppPipe) app: string,
    @RequestParam('name', StreamNamePipe) name: string,
    @RequestParam('url', RtmpUrlPipe) url: RtmpUrl | undefined,
  ): ApiEnvelope<RelayInfo | string> {
    const target = required(url, 'url');
    if (oper === 'start') return envelope(200, this.relays.startPush(app, name, target));
    this.relays.stopPush(app, name, target);
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
