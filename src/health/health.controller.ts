import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator';
import { ApiEnvelopeDoc } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { errorText } from '../common/errors';
import { KeyService } from '../key/key.service';

interface Health {
  readonly ok: boolean;
  readonly store: string;
  readonly error?: string;
}

/** `/healthz`: 200 when the service and its key store answer, 503 otherwise. Never needs a token. */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly keys: KeyService) {}

  @Public()
  @Get('healthz')
  @HttpCode(200)
  @ApiOperation({ summary: 'Whether the service and its key store answer (never needs a token)' })
  @ApiEnvelopeDoc(200, 'healthy', { ok: true, store: 'redis' })
  @ApiEnvelopeDoc(503, 'the key store does not answer', {
    ok: false,
    store: 'redis',
    error: 'key store unavailable',
  })
  async health(@Res({ passthrough: true }) response: Response): Promise<ApiEnvelope<Health>> {
    try {
      await this.keys.ping();
      return envelope(200, { ok: true, store: this.keys.storeKind });
    } catch (error) {
      response.status(503);
      return envelope(503, { ok: false, store: this.keys.storeKind, error: errorText(error) });
    }
  }
}
