/** End-to-end tests: the real app, real ffmpeg, real redis-server. */
module.exports = {
  rootDir: '..',
  roots: ['<rootDir>/test'],
  testRegex: '.*\\.e2e-spec\\.ts$',
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testEnvironment: 'node',
  // Kills every server and redis-server a file started, even when its own teardown did not run.
  setupFilesAfterEnv: ['<rootDir>/test/helpers/teardown.ts'],
  testTimeout: 60000,
};
