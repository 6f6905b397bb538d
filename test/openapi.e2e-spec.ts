import { call } from './helpers/http';
import { signToken } from './helpers/jwt';
import { ServerProcess, startServer } from './helpers/server';

const SECRET = 'openapi-test-secret';

describe('OpenAPI description of the control API', () => {
  let server: ServerProcess;
  let token: string;

  beforeAll(async () => {
    server = await startServer({
      off: ['rtmp_addr', 'httpflv_addr', 'hls_addr'],
      args: [`--jwt.secret=${SECRET}`],
    });
    token = signToken(SECRET, { sub: 'docs' });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('serves /openapi.json with every route, GET and POST, and the bearer scheme', async () => {
    const response = await call<never>(server.apiUrl('/openapi.json'), {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    const document = JSON.parse(response.text) as {
      openapi: string;
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/control/delete',
        '/control/get',
        '/control/kick',
        '/control/pull',
        '/control/push',
        '/control/reset',
        '/events',
        '/healthz',
        '/metrics',
        '/stat/cluster',
        '/stat/livestat',
      ].sort(),
    );
    // The cluster's parameters are described (README "Cluster").
    const names = (path: string) =>
      (document.paths[path].get.parameters ?? []).map((p) => p.name).sort();
    expect(names('/stat/livestat')).toEqual(['room', 'scope']);
    expect(names('/control/kick')).toEqual(['id', 'node']);
    expect(Object.keys(document.paths['/control/get']).sort()).toEqual(['get', 'post']);
    expect(document.paths['/control/get'].get.parameters?.map((p) => p.name)).toEqual(['room']);
    expect(document.components.securitySchemes.jwt.scheme).toBe('bearer');
  });

  it('needs a token like the rest of the API, and the docs page passes ?jwt= on', async () => {
    expect((await call(server.apiUrl('/openapi.json'))).status).toBe(401);
    expect((await call(server.apiUrl('/docs'))).status).toBe(401);
    const page = await call(server.apiUrl(`/docs?jwt=${token}`));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain(`/openapi.json?jwt=${token}`);
    const script = await fetch(server.apiUrl(`/docs/swagger-ui-bundle.js?jwt=${token}`));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect((await call(server.apiUrl(`/docs/..%2Fpackage.json?jwt=${token}`))).status).toBe(404);
  });

  it('answers methods other than GET and POST on control routes with 405', async () => {
    const response = await call(server.apiUrl(`/control/get?room=a&jwt=${token}`), {
      method: 'PUT',
    });
    expect(response.status).toBe(405);
    expect(response.json?.status).toBe(405);
  });
});
