import { Logger } from '@nestjs/common';
import { PEER_TEXT_MAX_CHARS, peerText, RefusalLog } from './peer-text';

describe('peerText', () => {
  it('escapes newlines, ANSI escapes, quotes, backslashes and line separators', () => {
    expect(peerText('a\nb\r\u001b[31m"x"\\\u2028\u2029\u0085\u007f')).toBe(
      'a\\u000ab\\u000d\\u001b[31m\\"x\\"\\\\\\u2028\\u2029\\u0085\\u007f',
    );
    expect(peerText('live/room-1 é')).toBe('live/room-1 é');
  });

  it('cuts text longer than 200 chars and says how long it was', () => {
    expect(peerText('x'.repeat(PEER_TEXT_MAX_CHARS))).toBe('x'.repeat(200));
    expect(peerText('y'.repeat(5000))).toBe(`${'y'.repeat(200)}…(5000 chars)`);
    expect(peerText('\n'.repeat(300))).toBe(`${'\\u000a'.repeat(200)}…(300 chars)`);
  });
});

describe('RefusalLog', () => {
  const capture = () => {
    const lines: string[] = [];
    const logger = { warn: (line: string) => lines.push(line) } as unknown as Logger;
    return { lines, logger };
  };

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('logs the first 3 lines per address and kind, then one line with the count', () => {
    const { lines, logger } = capture();
    const log = new RefusalLog(logger, 200);
    for (let i = 0; i < 10; i++) log.warn('10.0.0.1', 'bad key', `refused ${i}`);
    expect(lines).toEqual(['refused 0', 'refused 1', 'refused 2']);
    jest.advanceTimersByTime(200);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('10.0.0.1: 7 more refusals (bad key) in the last minute were not logged');
    // A new window after that one.
    log.warn('10.0.0.1', 'bad key', 'again');
    expect(lines[4]).toBe('again');
  });

  it('says nothing at the end of a window that held nothing back', () => {
    const { lines, logger } = capture();
    const log = new RefusalLog(logger, 200);
    log.warn('10.0.0.1', 'bad key', 'one');
    jest.advanceTimersByTime(1000);
    expect(lines).toEqual(['one']);
  });

  it('keeps kinds and addresses apart', () => {
    const { lines, logger } = capture();
    const log = new RefusalLog(logger, 200);
    for (let i = 0; i < 5; i++) {
      log.warn('10.0.0.1', 'bad key', 'a');
      log.warn('10.0.0.1', 'too big', 'b');
      log.warn('10.0.0.2', 'bad key', 'c');
    }
    expect(lines.filter((l) => l === 'a')).toHaveLength(3);
    expect(lines.filter((l) => l === 'b')).toHaveLength(3);
    expect(lines.filter((l) => l === 'c')).toHaveLength(3);
    jest.advanceTimersByTime(200);
    expect(lines.slice(9).sort()).toEqual([
      '10.0.0.1: 2 more refusals (bad key) in the last minute were not logged',
      '10.0.0.1: 2 more refusals (too big) in the last minute were not logged',
      '10.0.0.2: 2 more refusals (bad key) in the last minute were not logged',
    ]);
  });

  it('puts refusals beyond 10000 windows in one "other addresses" window', () => {
    const { lines, logger } = capture();
    const log = new RefusalLog(logger, 200);
    for (let i = 0; i < 10_000; i++) log.warn(`a${i}`, 'k', 'first');
    expect(lines).toHaveLength(10_000);
    for (let i = 0; i < 10; i++) log.warn(`b${i}`, 'k', `late ${i}`);
    expect(lines.slice(10_000)).toEqual(['late 0', 'late 1', 'late 2']);
    jest.advanceTimersByTime(200);
    expect(lines[lines.length - 1]).toBe(
      'other addresses: 7 more refusals (k) in the last minute were not logged',
    );
  });
});
