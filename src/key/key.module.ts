import { Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelKeyStore } from './channel-key.store';
import { KeyService } from './key.service';
import { MemoryKeyStore } from './stores/memory-key.store';
import { RedisKeyStore } from './stores/redis-key.store';

/** Closes the store's connections when the application stops. */
@Injectable()
class KeyStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(ChannelKeyStore) private readonly store: ChannelKeyStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/** Channel keys (README "Keys in memory or in Redis"): the store is chosen once, from `redis_addr`, when the module starts. */
@Module({
  providers: [
    {
      provide: ChannelKeyStore,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<ChannelKeyStore> => {
        const logger = new Logger('KeyModule');
        if (!config.redis_addr) {
          logger.log('channel keys are kept in memory: they are lost when the process stops');
          return MemoryKeyStore.create();
        }
        const store = await RedisKeyStore.connect(config.redis_addr, config.redis_pwd);
        logger.log(`channel keys are kept in Redis at ${config.redis_addr}`);
        return store;
      },
    },
    KeyStoreLifecycle,
    KeyService,
  ],
  exports: [KeyService],
})
export class KeyModule {}
