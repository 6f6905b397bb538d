import { All, Controller, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelopeDoc, ApiRoomCall, KEY_SAMPLE } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { KeyService } from '../key/key.service';
import { RequestParam } from './request-param.decorator';
import { RoomPipe } from './request-params.pipes';

/** LiveGo's channel-key endpoints; GET with a query string or POST with a url-encoded body. */
@ApiTags('channel keys')
@ApiBearerAuth('jwt')
@Controller('control')
export class ControlController {
  constructor(private readonly keys: KeyService) {}

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
}
