// Registered by test/jest-e2e.config.js for every e2e file: no server or redis-server outlives its file.
import { stopAllPublishers } from './media';
import { stopAllRedis } from './redis';
import { stopAllServers } from './server';

afterAll(async () => {
  stopAllPublishers();
  await stopAllServers();
  await stopAllRedis();
});
