import { Injectable, Logger } from '@nestjs/common';

/** A publish or play about to start, as an admission hook sees it. Keys are never included. */
export interface AdmissionRequest {
  readonly app: string;
  readonly room: string;
  /** `rtmp`, `rtmps`, `http-flv`, `hls`. */
  readonly protocol: string;
  readonly remote_addr: string;
}

/** `true`/`undefined` allow, `false` vetoes; the object form carries a reason for the peer and the log. */
export type AdmissionDecision =
  boolean | undefined | { readonly allow: boolean; readonly reason?: string };

/**
 * A module's say in who may publish or play. Register it from your module's `onModuleInit` with
 * `AdmissionHooks.register(hook)`. A publish hook runs after the key check and before
 * `NetStream.Publish.Start`; a play hook before the first byte of media. A hook that throws or does not
 * answer within `timeoutMs` refuses (fail closed).
 */
export interface AdmissionHook {
  /** Shown in logs and refusal reasons. */
  readonly name: string;
  /** Milliseconds to wait for an answer (default 3000). */
  readonly timeoutMs?: number;
  checkPublish?(request: AdmissionRequest): AdmissionDecision | Promise<AdmissionDecision>;
  checkPlay?(request: AdmissionRequest): AdmissionDecision | Promise<AdmissionDecision>;
}

export type HookVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

const DEFAULT_HOOK_TIMEOUT_MS = 3000;
const ALLOWED: HookVerdict = { allowed: true };

/** The registered admission hooks, asked in registration order; the first veto wins. */
@Injectable()
export class AdmissionHooks {
  private readonly logger = new Logger(AdmissionHooks.name);
  private readonly hooks: AdmissionHook[] = [];

  /** Adds a hook; returns a function that removes it. */
  register(hook: AdmissionHook): () => void {
    this.hooks.push(hook);
    return () => {
      const index = this.hooks.indexOf(hook);
      if (index >= 0) this.hooks.splice(index, 1);
    };
  }

  get hasPlayHooks(): boolean {
    return this.hooks.some((hook) => hook.checkPlay !== undefined);
  }

  checkPublish(request: AdmissionRequest): Promise<HookVerdict> {
    return this.ask('publish', request);
  }

  checkPlay(request: AdmissionRequest): Promise<HookVerdict> {
    return this.ask('play', request);
  }

  private async ask(kind: 'publish' | 'play', request: AdmissionRequest): Promise<HookVerdict> {
    for (const hook of this.hooks) {
      const asks =
        kind === 'publish' ? hook.checkPublish !== undefined : hook.checkPlay !== undefined;
      if (!asks) continue;
      const verdict = await this.run(hook, () =>
        kind === 'publish' ? hook.checkPublish?.(request) : hook.checkPlay?.(request),
      );
      if (!verdict.allowed) {
        this.logger.warn(
          `${kind} of ${request.app}/${request.room} by ${request.remote_addr} vetoed: ${verdict.reason}`,
        );
        return verdict;
      }
    }
    return ALLOWED;
  }

  private async run(
    hook: AdmissionHook,
    call: () => AdmissionDecision | Promise<AdmissionDecision>,
  ): Promise<HookVerdict> {
    const timeoutMs = hook.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HookVerdict>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({ allowed: false, reason: `${hook.name} did not answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    const answer = (async (): Promise<HookVerdict> => {
      try {
        const decision = await call();
        if (decision === undefined || decision === true) return ALLOWED;
        if (decision === false) return { allowed: false, reason: `refused by ${hook.name}` };
        return decision.allow
          ? ALLOWED
          : { allowed: false, reason: decision.reason ?? `refused by ${hook.name}` };
      } catch (error) {
        return {
          allowed: false,
          reason: `${hook.name} failed: ${error instanceof Error ? error.message : String(error)}`,
        };
      }
    })();
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
