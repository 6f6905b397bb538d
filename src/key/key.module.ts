import { Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelKeyStore } from './channel-key.store';
import { KeyService } from './key.service';
import { MemoryKeyStore } from './stores/memory-key.store';
import { RedisKeyStore } from './stores/redis-key.store';
import { RedisConnection, SharedRedis } from './redis-connection';

/** Closes the store's connections when the application stops. */
@Injectable()
class KeyStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(ChannelKeyStore) private readonly store: ChannelKeyStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * Channel keys (README "Keys in memory or in Redis"): the store is chosen once, from `redis_addr` or
 * `redis_sentinels`, when the module starts. Its Redis connection is shared (SharedRedis) with the cluster.
 */
@Module({
  providers: [
    {
      provide: SharedRedis,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<SharedRedis> =>
        new SharedRedis(
          config.redis_addr || config.redis_sentinels
            ? await RedisConnection.connect(config)
            : undefined,
        ),
    },
    {
      provide: ChannelKeyStore,
      inject: [SharedRedis],
      useFactory: async ({ connection }: SharedRedis): Promise<ChannelKeyStore> => {
        const logger = new Logger('KeyModule');
        if (!connection) {
          logger.log('channel keys are kept in memory: they are lost when the process stops');
          return MemoryKeyStore.create();
        }
        const store = await RedisKeyStore.on(connection);
        logger.log(`channel keys are kept in Redis at ${connection.where}`);
        return store;
      },
    },
    KeyStoreLifecycle,
    KeyService,
  ],
  exports: [KeyService, SharedRedis],
})
export class KeyModule {}
