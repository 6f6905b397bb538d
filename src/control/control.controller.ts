import { All, Controller, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiEnvelopeDoc,
  ApiRequestParam,
  ApiRoomCall,
  KEY_SAMPLE,
} from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { NotFoundError } from '../common/errors';
import { KeyService } from '../key/key.service';
import { ClusterService } from '../stream/cluster/cluster.service';
import { StreamAccess } from '../stream/core/stream-access';
import { RequestParam } from './request-param.decorator';
import { RoomPipe, SessionIdPipe } from './request-params.pipes';

/** What `/control/kick` answers: the session it closed. */
export interface KickedSession {
  readonly session_id: number;
  readonly role: string;
  readonly key: string;
  readonly protocol: string;
}

/**
 * LiveGo's channel-key endpoints, and `/control/kick`; GET with a query string or POST with a
 * url-encoded body.
 */
@ApiTags('channel keys')
@ApiBearerAuth('jwt')
@Controller('control')
export class ControlController {
  constructor(
    private readonly keys: KeyService,
    private readonly access: StreamAccess,
    private readonly cluster: ClusterService,
  ) {}

  @All('get')
  @HttpCode(200)
  @ApiOperation({ summary: "The room's publish key, created if the room has none" })
  @ApiRoomCall(KEY_SAMPLE)
  async get(@RequestParam('room', RoomPipe) room: string): Promise<ApiEnvelope<string>> {
    return envelope(200, await this.keys.get(room));
  }

  @All('reset')
  @HttpCode(200)
  @ApiOperation({
    summary: 'A new key for the room; the old one is revoked and its live publisher dropped',
  })
  @ApiRoomCall(KEY_SAMPLE)
  async reset(@RequestParam('room', RoomPipe) room: string): Promise<ApiEnvelope<string>> {
    return envelope(200, await this.keys.reset(room));
  }

  @All('delete')
  @HttpCode(200)
  @ApiOperation({ summary: 'Removes the room and revokes its key' })
  @ApiRoomCall('Ok', [ApiEnvelopeDoc(404, 'the room does not exist', 'room not found')])
  async delete(@RequestParam('room', RoomPipe) room: string): Promise<ApiEnvelope<string>> {
    await this.keys.delete(room);
    return envelope(200, 'Ok');
  }

  @All('kick')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Closes the publisher or player with that session_id (a kicked publisher may publish again with its key)',
  })
  @ApiRequestParam('id', 'the session_id of a publisher or player (from /stat/livestat or /events)')
  @ApiRequestParam(
    'node',
    'with the cluster: the node holding the session (`node` in /stat/livestat?scope=cluster); this one by default',
    false,
  )
  @ApiEnvelopeDoc(200, 'the session was closed', {
    session_id: 7,
    role: 'player',
    key: 'live/news',
    protocol: 'http-flv',
  })
  @ApiEnvelopeDoc(400, 'missing or invalid id', 'id must be a session id (a positive integer)')
  @ApiEnvelopeDoc(401, 'missing or invalid token (when jwt.secret is set)', 'token expired')
  @ApiEnvelopeDoc(404, 'no open session has that id', 'session not found')
  async kick(
    @RequestParam('id', SessionIdPipe) id: number,
    @RequestParam('node') node: string | undefined,
  ): Promise<ApiEnvelope<KickedSession>> {
    if (node && this.cluster.enabled && node !== this.cluster.nodeId) {
      // The node holding it closes it (README "Cluster" "One view").
      const kicked = await this.cluster.kick(node, id);
      if (!kicked) throw new NotFoundError('session not found');
      return envelope(200, kicked);
    }
    const session = this.access.session(id);
    if (!session?.isOpen) throw new NotFoundError('session not found');
    session.stop(`${session.streamKey}: kicked through the control API`);
    return envelope(200, {
      session_id: session.id,
      role: session.role,
      key: session.streamKey,
      protocol: session.protocol,
    });
  }
}
