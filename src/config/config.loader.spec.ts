import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config.error';
import { envName, LoadedConfig, loadConfig } from './config.loader';
import { parseListenAddress } from './listen-address';

let cwd: string;

beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'livego-config-'));
});

afterEach(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const path = join(cwd, name);
  writeFileSync(path, text);
  return path;
}

function load(argv: string[] = [], env: Record<string, string> = {}): LoadedConfig {
  return loadConfig({ argv, env, cwd });
}

/** The ConfigError message loadConfig throws; fails the test when it does not throw one. */
function errorOf(argv: string[] = [], env: Record<string, string> = {}): string {
  try {
    load(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('loadConfig did not throw');
}

describe('loadConfig defaults', () => {
  it('uses the README "Configuration" defaults when nothing is configured', () => {
    const { config, warnings } = load();
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      level: 'info',
      rtmp_addr: { text: ':1935', host: undefined, port: 1935 },
      httpflv_addr: { port: 7001 },
      hls_addr: { port: 7002 },
      api_addr: { port: 8090 },
      rtmps_addr: null,
      read_timeout: 10,
      write_timeout: 10,
      gop_num: 1,
      hls_fragment: 3,
      hls_window: 3,
      hls_keep_after_end: false,
      flv_archive: false,
      flv_dir: 'tmp',
      rtmp_noauth: false,
      enable_rtmps: false,
      rtmps_cert: 'server.crt',
      rtmps_key: 'server.key',
      redis_addr: '',
      redis_pwd: '',
      jwt: { secret: '', algorithm: 'HS256' },
      max_message_size: 8388608,
      max_connections: 10000,
      max_connections_per_ip: 100,
      server: [{ appname: 'live', live: true, hls: true, flv: true, api: true, static_push: [] }],
      config_file: null,
    });
  });

  it('names environment variables in upper case with dots as underscores', () => {
    expect(envName('jwt.secret')).toBe('JWT_SECRET');
    expect(envName('rtmp_addr')).toBe('RTMP_ADDR');
  });
});

describe('loadConfig precedence: defaults < livego.yaml < .env < environment < flags', () => {
  beforeEach(() => {
    write('livego.yaml', 'gop_num: 2\nhls_window: 2\nwrite_timeout: 2\nread_timeout: 2\n');
    write('.env', 'HLS_WINDOW=3\nWRITE_TIMEOUT=3\nREAD_TIMEOUT=3\n');
  });

  const env = { WRITE_TIMEOUT: '4', READ_TIMEOUT: '4' };

  it('takes each key from the highest source that sets it', () => {
    const { config } = load(['--read_timeout=5'], env);
    expect(config.gop_num).toBe(2); // yaml over default 1
    expect(config.hls_window).toBe(3); // .env over yaml
    expect(config.write_timeout).toBe(4); // environment over .env
    expect(config.read_timeout).toBe(5); // flag over environment
    expect(config.hls_fragment).toBe(3); // default
    expect(config.config_file).toBe(join(cwd, 'livego.yaml'));
  });

  it('lets the last of repeated flags win', () => {
    expect(load(['--gop_num=7', '--gop_num', '8']).config.gop_num).toBe(8);
  });

  it('reads --config_file, CONFIG_FILE from the environment and from .env instead of livego.yaml', () => {
    mkdirSync(join(cwd, 'etc'));
    const a = write('etc/a.yaml', 'gop_num: 11\n');
    const b = write('etc/b.yaml', 'gop_num: 12\n');
    const c = write('etc/c.yaml', 'gop_num: 13\n');
    write('.env', `CONFIG_FILE=${c}\n`);
    expect(load().config.gop_num).toBe(13);
    expect(load([], { CONFIG_FILE: b }).config.gop_num).toBe(12);
    expect(load(['--config_file', a], { CONFIG_FILE: b }).config.gop_num).toBe(11);
    expect(load([`--config_file=etc/a.yaml`]).config).toMatchObject({
      gop_num: 11,
      config_file: a,
    });
  });

  it('reads nested jwt keys from YAML and flat ones from the environment and flags', () => {
    write('livego.yaml', 'jwt:\n  secret: from-yaml\n  algorithm: HS384\n');
    expect(load().config.jwt).toEqual({ secret: 'from-yaml', algorithm: 'HS384' });
    expect(load([], { JWT_SECRET: 'from-env' }).config.jwt.secret).toBe('from-env');
    expect(load(['--jwt.algorithm=hs512'], { JWT_ALGORITHM: 'HS256' }).config.jwt.algorithm).toBe(
      'HS512',
    );
  });

  it('lets an empty flag turn off a listener set in the file', () => {
    write('livego.yaml', 'hls_addr: ":7777"\n');
    expect(load().config.hls_addr?.port).toBe(7777);
    expect(load(['--hls_addr=']).config.hls_addr).toBeNull();
  });

  it('treats an empty environment or .env value as unset: it never erases the file', () => {
    write(
      'livego.yaml',
      'hls_addr: ":7777"\njwt:\n  secret: from-yaml\nredis_addr: "127.0.0.1:6379"\n' +
        'on_publish: "http://127.0.0.1:9/gate"\nwebhook_secret: hmac\n',
    );
    const empty = {
      HLS_ADDR: '',
      JWT_SECRET: '',
      REDIS_ADDR: ' ',
      ON_PUBLISH: '',
      WEBHOOK_SECRET: '',
    };
    for (const config of [
      load([], empty).config,
      (write('.env', 'JWT_SECRET=\nREDIS_ADDR=\nON_PUBLISH=\nWEBHOOK_SECRET=\nHLS_ADDR=\n'), load())
        .config,
    ]) {
      expect(config).toMatchObject({
        hls_addr: { port: 7777 },
        jwt: { secret: 'from-yaml' },
        redis_addr: '127.0.0.1:6379',
        on_publish: 'http://127.0.0.1:9/gate',
        webhook_secret: 'hmac',
      });
    }
    expect(load([], { CONFIG_FILE: '' }).config.config_file).toBe(join(cwd, 'livego.yaml'));
  });
});

describe('loadConfig flags', () => {
  it('accepts --key=value, --key value and a bare boolean --key', () => {
    const { config } = load(['--gop_num=3', '--hls_window', '4', '--rtmp_noauth', '--level=debug']);
    expect(config).toMatchObject({ gop_num: 3, hls_window: 4, rtmp_noauth: true, level: 'debug' });
  });

  it('refuses a value-less flag for a key that is not a boolean, naming it', () => {
    expect(errorOf(['--rtmp_addr'])).toBe(
      'config flag --rtmp_addr needs a value (--rtmp_addr=VALUE)',
    );
    expect(errorOf(['--jwt.secret', '--rtmp_noauth'])).toContain('--jwt.secret needs a value');
    expect(errorOf(['--gop_num'])).toContain('--gop_num');
    expect(load(['--rtmp_noauth', '--flv_archive']).config).toMatchObject({
      rtmp_noauth: true,
      flv_archive: true,
    });
  });

  it('keeps a value that contains = signs', () => {
    expect(load(['--jwt.secret=a=b=c']).config.jwt.secret).toBe('a=b=c');
  });

  it('warns about an unknown flag and a stray argument but starts', () => {
    const { config, warnings } = load(['--no_such_flag=1', 'stray']);
    expect(config.gop_num).toBe(1);
    expect(warnings).toHaveLength(2);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown flag --no_such_flag'),
        expect.stringContaining('"stray"'),
      ]),
    );
  });
});

describe('loadConfig coercion', () => {
  it('reads numbers and booleans from text sources', () => {
    const { config } = load(
      ['--hls_fragment=1.5', '--flv_archive=yes', '--hls_keep_after_end', 'off'],
      { MAX_CONNECTIONS: '5', RTMP_NOAUTH: 'TRUE', ENABLE_RTMPS: '0' },
    );
    expect(config).toMatchObject({
      hls_fragment: 1.5,
      flv_archive: true,
      hls_keep_after_end: false,
      max_connections: 5,
      rtmp_noauth: true,
      enable_rtmps: false,
    });
  });

  it('reads typed YAML values and the server list', () => {
    write(
      'livego.yaml',
      [
        'level: warn',
        'gop_num: 4',
        'flv_archive: true',
        'server:',
        '  - appname: live',
        '    live: true',
        '    flv: true',
        '  - appname: tv',
        '    live: true',
        '    static_push: ["rtmp://backup.example/live/"]',
      ].join('\n'),
    );
    const { config } = load();
    expect(config).toMatchObject({ level: 'warn', gop_num: 4, flv_archive: true });
    expect(config.server).toEqual([
      { appname: 'live', live: true, hls: false, flv: true, api: false, static_push: [] },
      {
        appname: 'tv',
        live: true,
        hls: false,
        flv: false,
        api: false,
        static_push: ['rtmp://backup.example/live'],
      },
    ]);
  });

  it('reads the server list as JSON from the environment', () => {
    const { config } = load([], { SERVER: '[{"appname":"cam","live":true}]' });
    expect(config.server.map((app) => app.appname)).toEqual(['cam']);
  });

  it('accepts the three JWT algorithms in any case', () => {
    for (const algorithm of ['HS256', 'hs384', 'Hs512']) {
      expect(load([`--jwt.algorithm=${algorithm}`]).config.jwt.algorithm).toBe(
        algorithm.toUpperCase(),
      );
    }
  });
});

describe('loadConfig listen addresses', () => {
  it.each([
    [':1935', undefined, 1935],
    ['127.0.0.1:1935', '127.0.0.1', 1935],
    ['[::1]:1935', '::1', 1935],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['localhost:8090', 'localhost', 8090],
  ])('parses %s', (text, host, port) => {
    expect(parseListenAddress(text)).toEqual({ text, host, port });
    expect(load([`--rtmp_addr=${text}`]).config.rtmp_addr).toEqual({ text, host, port });
  });

  it('treats an empty address as a listener that is off', () => {
    expect(parseListenAddress('')).toBeNull();
    expect(parseListenAddress('  ')).toBeNull();
    const { config } = load(['--rtmp_addr=', '--httpflv_addr=', '--hls_addr=', '--api_addr=']);
    expect([config.rtmp_addr, config.httpflv_addr, config.hls_addr, config.api_addr]).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });

  it.each(['1935', 'localhost', ':99999', '::1:1935', '1.2.3.4:', 'a b:1', ':-1'])(
    'refuses %s naming the key once',
    (text) => {
      const message = errorOf([`--rtmp_addr=${text}`]);
      expect(message).toContain('rtmp_addr');
      expect(message).toContain(`"${text}"`);
      expect(message.split(`"${text}"`)).toHaveLength(2);
    },
  );
});

describe('loadConfig errors name the key or file in one line', () => {
  it.each([
    ['gop_num: abc', 'gop_num'],
    ['gop_num: 1.5', 'gop_num'],
    ['read_timeout: -1', 'read_timeout'],
    ['read_timeout: 0', 'read_timeout'],
    ['write_timeout: "ten"', 'write_timeout'],
    ['hls_fragment: 0', 'hls_fragment'],
    ['hls_window: 0', 'hls_window'],
    ['max_connections: 0', 'max_connections'],
    ['max_message_size: 10', 'max_message_size'],
    ['flv_archive: maybe', 'flv_archive'],
    ['level: loud', 'level'],
    ['flv_dir: ""', 'flv_dir'],
    ['api_addr: 8090', 'api_addr'],
    ['rtmp_addr: [1, 2]', 'rtmp_addr'],
    ['redis_addr: localhost', 'redis_addr'],
    ['redis_addr: "host:99999"', 'redis_addr'],
    ['jwt:\n  algorithm: RS256', 'jwt.algorithm'],
    ['jwt:\n  algorithm: none', 'jwt.algorithm'],
    ['jwt:\n  secret: {a: 1}', 'jwt.secret'],
    ['server: []', 'server'],
    ['server:\n  - appname: ".bad"', 'server[0].appname'],
    ['server:\n  - appname: a\n  - appname: a', 'server[1].appname'],
    ['server:\n  - appname: a\n    colour: red', 'server[0].colour'],
    ['server:\n  - appname: a\n    static_push: ["http://x/"]', 'server[0].static_push[0]'],
    [
      'server:\n  - appname: a\n    static_push: ["rtmp://backup:1935"]',
      'server[0].static_push[0]',
    ],
    ['server:\n  - appname: a\n    static_push: rtmp://x/live', 'server[0].static_push'],
    ['webhooks:\n  - url: ftp://x/', 'webhooks[0].url'],
    ['on_publish: "not a url"', 'on_publish'],
    ['api_cors_origins: ["https://a.example/path"]', 'api_cors_origins[0]'],
  ])('%s', (yaml, key) => {
    const path = write('livego.yaml', `${yaml}\n`);
    const message = errorOf();
    expect(message).toMatch(new RegExp(`^config ${key.replace(/[[\].]/g, '\\$&')} `));
    expect(message).toContain(path);
  });

  it('never shows a secret or a webhook URL in its line', () => {
    const secretish = 'https://hooks.example.net/T0KEN-abc?sig=s3cret';
    write('livego.yaml', `webhooks:\n  - url: "${secretish}"\n    events: [nope]\n`);
    const hooks = errorOf();
    expect(hooks).toMatch(/^config webhooks\[0\]\.events\[0\] must be an event name: /);
    expect(hooks).not.toContain('T0KEN');
    expect(errorOf([], { ON_PUBLISH: 'ftp://T0KEN@x/' })).not.toContain('T0KEN');
    expect(errorOf(['--jwt.secret=x', '--webhook_secret'])).not.toContain('T0KEN');
  });

  it('accepts api_cors_origins as a YAML list or JSON text and keeps origins only', () => {
    write('livego.yaml', 'api_cors_origins: ["https://console.example.net", "*"]\n');
    expect(load().config.api_cors_origins).toEqual(['https://console.example.net', '*']);
    expect(
      load([], { API_CORS_ORIGINS: '["http://127.0.0.1:3000"]' }).config.api_cors_origins,
    ).toEqual(['http://127.0.0.1:3000']);
  });

  it('names the flag or variable a bad value came from', () => {
    expect(errorOf(['--gop_num=abc'])).toContain('flag --gop_num');
    expect(errorOf([], { GOP_NUM: 'abc' })).toContain('environment GOP_NUM');
    write('.env', 'GOP_NUM=abc\n');
    expect(errorOf()).toContain('.env GOP_NUM');
  });

  it('refuses invalid YAML naming the file', () => {
    const path = write('livego.yaml', 'rtmp_addr: [unclosed\n');
    expect(errorOf()).toMatch(new RegExp(`^config file ${path} is not valid YAML`));
  });

  it('refuses YAML that is not a mapping', () => {
    const path = write('livego.yaml', '- a\n- b\n');
    expect(errorOf()).toContain(path);
  });

  it('refuses an explicit config file that is missing or a directory', () => {
    const missing = join(cwd, 'missing.yaml');
    expect(errorOf(['--config_file', missing])).toMatch(
      new RegExp(`^config file ${missing} is not readable`),
    );
    expect(errorOf([], { CONFIG_FILE: cwd })).toMatch(
      new RegExp(`^config file ${cwd} is not readable`),
    );
  });

  it('starts on defaults when livego.yaml is absent or empty', () => {
    expect(load().config.config_file).toBeNull();
    write('livego.yaml', '# nothing yet\n');
    expect(load().config.gop_num).toBe(1);
  });

  it('refuses enable_rtmps without readable certificate and key files', () => {
    const message = errorOf(['--enable_rtmps', `--rtmps_cert=${join(cwd, 'none.crt')}`]);
    expect(message).toMatch(/^enable_rtmps needs rtmps_cert .*none\.crt.* not readable/);
    const cert = write('server.crt', 'not a certificate');
    const key = write('server.key', 'not a key');
    const pair = errorOf(['--enable_rtmps=true', `--rtmps_cert=${cert}`, `--rtmps_key=${key}`]);
    expect(pair).toContain('enable_rtmps');
    expect(pair).toContain('rtmps_cert');
  });

  it('refuses rtmps_addr without readable certificate files', () => {
    expect(errorOf(['--rtmps_addr=:1936', `--rtmps_key=${join(cwd, 'x')}`])).toMatch(
      /^rtmps_addr needs rtmps_cert/,
    );
  });
});

describe('loadConfig warnings', () => {
  it('warns about unknown keys in the file, nested ones too, and still loads', () => {
    const path = write('livego.yaml', 'gop_num: 2\ncolour: blue\njwt:\n  issuer: me\n');
    const { config, warnings } = load();
    expect(config.gop_num).toBe(2);
    expect(warnings).toEqual([
      `unknown config key colour in ${path} ignored`,
      `unknown config key jwt.issuer in ${path} ignored`,
    ]);
  });
});
