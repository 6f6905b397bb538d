// Registered by test/jest-e2e.config.js for every e2e file: no server or redis-server outlives its file.
import { stopAllRedis } from './redis';
import { stopAllServers } from './server';

afterAll(async () => {
  await stopAllServers();
  await stopAllRedis();
});
