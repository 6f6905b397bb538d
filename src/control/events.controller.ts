import { Controller, Get, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiEnvelopeDoc } from '../docs/api-docs.decorators';
import { MethodNotAllowedError } from '../common/errors';
import { EventStreamService, MAX_EVENT_CLIENTS } from './event-stream.service';

/** `/events`: the stream events as Server-Sent Events, for the console and any EventSource. */
@ApiTags('events')
@ApiBearerAuth('jwt')
@Controller()
export class EventsController {
  constructor(private readonly events: EventStreamService) {}

  @Get('events')
  @ApiOperation({
    summary:
      'Every stream event as Server-Sent Events: `event: <name>` and the JSON payload as `data`',
  })
  @ApiProduces('text/event-stream')
  @ApiQuery({
    name: 'jwt',
    required: false,
    description: 'the token, for clients that cannot send headers (EventSource)',
  })
  @ApiResponse({
    status: 200,
    description: 'an event stream (publish.admitted, player.joined, key.reset, ...)',
    content: {
      'text/event-stream': {
        example:
          'event: publish.admitted\ndata: {"event":"publish.admitted","time":"2026-01-01T12:00:00.000Z","app":"live","room":"news","protocol":"rtmp","remote_addr":"203.0.113.7:50412","session_id":7}\n\n',
      },
    },
  })
  @ApiEnvelopeDoc(401, 'missing or invalid token (when jwt.secret is set)', 'token expired')
  @ApiEnvelopeDoc(
    503,
    `more than ${MAX_EVENT_CLIENTS} event streams open`,
    'too many event streams open',
  )
  stream(@Req() request: Request, @Res() response: Response): void {
    // HEAD would hold a connection open for a stream it never reads.
    if (request.method !== 'GET') throw new MethodNotAllowedError('use GET', 'GET');
    this.events.open(response);
  }
}
