import { Controller, Get, Logger, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../auth/public.decorator';
import { NotFoundError } from '../common/errors';
import { AppConfig } from '../config/app-config';
import { BundleFile, CONSOLE_BUNDLE_DIR, readConsoleBundle } from './console-bundle';

/** A Host header's name part that may go into a Content-Security-Policy source as it is. */
const SAFE_HOSTNAME = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

/** What the page needs to know before it has a token: whether it needs one, and where media is played. */
export interface ConsoleSettings {
  /** The API asks for a JWT (`jwt.secret` is set). */
  readonly token_required: boolean;
  /** Ports of `rtmp_addr`, `httpflv_addr` and `hls_addr` (null when off), on the page's host. */
  readonly rtmp_port: number | null;
  readonly httpflv_port: number | null;
  readonly hls_port: number | null;
  /** Apps and what they serve, for the preview and relay forms. */
  readonly apps: readonly { readonly name: string; readonly flv: boolean; readonly hls: boolean }[];
}

/**
 * The web console at `/console` (README "Web console"): a static page built by `npm run build`, served
 * from memory. The page and its assets need no token: they hold no data, and every call the page makes
 * goes to the API with the token the operator gives it.
 */
@ApiExcludeController()
@Public()
@Controller('console')
export class ConsoleController {
  private readonly logger = new Logger(ConsoleController.name);
  private readonly files: Map<string, BundleFile>;

  constructor(private readonly config: AppConfig) {
    this.files = readConsoleBundle();
    if (this.files.size > 0 && config.api_addr) {
      this.logger.log(`web console at /console on api_addr ${config.api_addr.text}`);
    } else if (this.files.size === 0) {
      this.logger.warn(
        `the web console is not built (no ${CONSOLE_BUNDLE_DIR}): run npm run build to serve /console`,
      );
    }
  }

  @Get()
  redirect(@Req() request: Request, @Res() response: Response): void {
    // Relative asset URLs need the trailing slash (and keep working behind a path prefix).
    if (!request.originalUrl.split('?')[0].endsWith('/')) {
      response.redirect(302, 'console/');
      return;
    }
    this.send(request, response, 'index.html');
  }

  @Get('settings.json')
  settings(): ConsoleSettings {
    return {
      token_required: this.config.jwt.secret !== '',
      rtmp_port: this.config.rtmp_addr?.port ?? null,
      httpflv_port: this.config.httpflv_addr?.port ?? null,
      hls_port: this.config.hls_addr?.port ?? null,
      apps: this.config.server.map((app) => ({ name: app.appname, flv: app.flv, hls: app.hls })),
    };
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() request: Request, @Res() response: Response): void {
    this.send(request, response, `assets/${file}`);
  }

  private send(request: Request, response: Response, name: string): void {
    if (this.files.size === 0) {
      throw new NotFoundError('the web console is not built: run npm run build');
    }
    const file = this.files.get(name);
    if (!file) throw new NotFoundError('no such file');
    response.setHeader('Content-Type', file.type);
    response.setHeader('ETag', file.etag);
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    if (name === 'index.html') {
      response.setHeader('Content-Security-Policy', this.policy(request));
      response.setHeader('X-Frame-Options', 'DENY');
    }
    if (request.headers['if-none-match'] === file.etag) {
      response.status(304).end();
      return;
    }
    response.status(200).end(file.body);
  }

  /**
   * Nothing but this service: scripts and styles from the bundle, API calls to this origin, media from
   * the HTTP-FLV and HLS listeners on the host the page was loaded from (MSE plays them from blob: URLs).
   */
  private policy(request: Request): string {
    const host = request.hostname;
    const media: string[] = [];
    if (SAFE_HOSTNAME.test(host)) {
      const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      for (const port of [this.config.httpflv_addr?.port, this.config.hls_addr?.port]) {
        if (port !== undefined) media.push(`${request.protocol}://${name}:${port}`);
      }
    }
    const connect = ["'self'", ...media].join(' ');
    return [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src ${connect}`,
      `media-src 'self' blob: ${media.join(' ')}`.trim(),
      "worker-src 'self' blob:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  }
}
