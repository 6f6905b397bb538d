import { All, Controller, HttpCode } from '@nestjs/common';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { KeyService } from '../key/key.service';
import { RequestParam } from './request-param.decorator';

/** LiveGo's channel-key endpoints; GET with a query string or POST with a url-encoded body. */
@Controller('control')
export class ControlController {
  constructor(private readonly keys: KeyService) {}

  @All('get')
  @HttpCode(200)
  async get(@RequestParam('room') room?: string): Promise<ApiEnvelope<string>> {
    return envelope(200, await this.keys.get(room));
  }

  @All('reset')
  @HttpCode(200)
  async reset(@RequestParam('room') room?: string): Promise<ApiEnvelope<string>> {
    return envelope(200, await this.keys.reset(room));
  }

  @All('delete')
  @HttpCode(200)
  async delete(@RequestParam('room') room?: string): Promise<ApiEnvelope<string>> {
    await this.keys.delete(room);
    return envelope(200, 'Ok');
  }
}
