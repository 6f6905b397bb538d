import { InvalidParameterError } from './errors';
import { parseHttpUrl, parseRtmpPrefix, parseRtmpUrl, redactUrl } from './urls';

describe('parseRtmpUrl', () => {
  it('splits a far end into host, port, app and stream, and redacts the stream', () => {
    expect(parseRtmpUrl('rtmps://cdn.example.net/live/sub/KEY?x=1')).toEqual({
      secure: true,
      host: 'cdn.example.net',
      port: 443,
      app: 'live/sub',
      streamName: 'KEY?x=1',
      tcUrl: 'rtmps://cdn.example.net:443/live/sub',
      redacted: 'rtmps://cdn.example.net:443/live/sub/…',
    });
    expect(parseRtmpUrl('rtmp://[::1]/live/a')).toMatchObject({ host: '::1', port: 1935 });
  });

  it.each(['http://x/a/b', 'rtmp://x/onlyapp', 'rtmp:///a/b', 'not a url', 'rtmp://h/a/%zz'])(
    'refuses %s with an InvalidParameterError (a 400 at the API)',
    (text) => expect(() => parseRtmpUrl(text)).toThrow(InvalidParameterError),
  );
});

describe('parseRtmpPrefix', () => {
  it('accepts what becomes a valid URL once a room is appended', () => {
    expect(parseRtmpPrefix('rtmp://backup.example.net:1936/live/')).toBe(
      'rtmp://backup.example.net:1936/live',
    );
  });

  it('refuses a prefix without an app', () => {
    expect(() => parseRtmpPrefix('rtmp://backup:1935')).toThrow(/with a host and an app/);
  });
});

describe('parseHttpUrl and redactUrl', () => {
  it('accepts http(s) with a host only', () => {
    expect(parseHttpUrl(' https://hooks.example/x ')).toBe('https://hooks.example/x');
    expect(() => parseHttpUrl('ftp://hooks.example/')).toThrow(InvalidParameterError);
  });

  it('keeps scheme and host, never the path or the query', () => {
    expect(redactUrl('https://u:p@hooks.example:8443/T0KEN?sig=1')).toBe(
      'https://hooks.example:8443/…',
    );
    expect(redactUrl('nonsense')).toBe('(not a URL)');
  });
});
