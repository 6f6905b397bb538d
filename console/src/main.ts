import '../styles.css';
import {
  Api,
  LiveStat,
  loadSettings,
  NodeItem,
  PublisherItem,
  SessionItem,
  Settings,
  UnauthorizedError,
} from './api';
import { ago, byId, h, kbps, sparkline } from './dom';
import { Preview, PreviewProtocol, startPreview } from './preview';

/** The token lives in this tab only (sessionStorage): closing the tab signs out. */
const TOKEN_STORAGE = 'livego.console.token';
/** Stats are read this often for the bitrates; events refresh the list at once in between. */
const STATS_INTERVAL_MS = 2000;
/** An event refreshes the list this soon, so a burst of events is one request. */
const EVENT_REFRESH_DELAY_MS = 150;
const NODES_INTERVAL_MS = 10_000;
/** Every event `/events` sends (src/events/stream-events.ts). */
const EVENT_NAMES = [
  'publish.admitted',
  'publish.refused',
  'publish.ended',
  'player.joined',
  'player.left',
  'key.created',
  'key.reset',
  'key.deleted',
  'relay.started',
  'relay.stopped',
  'relay.failed',
  'archive.finished',
];
const VIEWS = ['streams', 'keys', 'relays', 'nodes'] as const;
type View = (typeof VIEWS)[number];

let settings: Settings;
const api = new Api(sessionStorage.getItem(TOKEN_STORAGE) ?? undefined);
let events: EventSource | undefined;
let statsTimer: number | undefined;
let nodesTimer: number | undefined;
let refreshTimer: number | undefined;
let nodesAvailable = false;
let preview: { key: string; player: Preview | undefined } | undefined;

function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const element = byId('notice');
  element.textContent = text;
  element.dataset.kind = kind;
}

function setLiveState(text: string, kind: 'live' | 'down'): void {
  const element = byId('live-state');
  element.textContent = text;
  element.dataset.kind = kind;
}

// --- signing in and out ---------------------------------------------------------------------------

async function start(): Promise<void> {
  try {
    settings = await loadSettings();
  } catch {
    notice('The console cannot reach the server.', 'error');
    return;
  }
  byId('open-banner').hidden = settings.token_required;
  byId('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn(byId<HTMLInputElement>('token').value.trim());
  });
  byId('logout').addEventListener('click', () => signOut());
  if (!settings.token_required) {
    api.setToken(undefined);
    await enter();
  } else if (sessionStorage.getItem(TOKEN_STORAGE)) {
    await enter();
  } else {
    showLogin();
  }
}

function showLogin(message = ''): void {
  stopLive();
  byId('nav').hidden = true;
  byId('logout').hidden = true;
  for (const view of VIEWS) byId(`view-${view}`).hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  setLiveState('', 'down');
  byId<HTMLInputElement>('token').focus();
}

async function signIn(token: string): Promise<void> {
  api.setToken(token);
  try {
    await api.get('stat/livestat');
  } catch (error) {
    api.setToken(undefined);
    byId('login-error').textContent =
      error instanceof UnauthorizedError
        ? `The server refused this token: ${error.message}`
        : 'The server does not answer.';
    return;
  }
  sessionStorage.setItem(TOKEN_STORAGE, token);
  byId<HTMLInputElement>('token').value = '';
  await enter();
}

function signOut(message = ''): void {
  sessionStorage.removeItem(TOKEN_STORAGE);
  api.setToken(undefined);
  stopPreview();
  showLogin(message);
}

/** A call was refused with 401: the token expired or the secret changed. */
function handle(error: unknown): void {
  if (error instanceof UnauthorizedError) {
    if (settings.token_required) signOut(`Signed out: ${error.message}`);
    return;
  }
  setLiveState('server unreachable', 'down');
}

async function enter(): Promise<void> {
  byId('login').hidden = true;
  byId('nav').hidden = false;
  byId('logout').hidden = !settings.token_required;
  show(viewFromHash());
  await refresh();
  startLive();
  void probeNodes();
}

// --- views ----------------------------------------------------------------------------------------

function viewFromHash(): View {
  const name = location.hash.slice(1);
  return (VIEWS as readonly string[]).includes(name) && (name !== 'nodes' || nodesAvailable)
    ? (name as View)
    : 'streams';
}

function show(view: View): void {
  // A key is shown on request only: leaving the Keys view hides it.
  if (view !== 'keys') hideKey();
  for (const name of VIEWS) byId(`view-${name}`).hidden = name !== view;
  for (const button of document.querySelectorAll<HTMLButtonElement>('#nav button')) {
    if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
}

function navigate(view: View): void {
  if (location.hash !== `#${view}`) history.pushState(null, '', `#${view}`);
  show(view);
}

// --- live updates ---------------------------------------------------------------------------------

function startLive(): void {
  stopLive();
  events = new EventSource(api.eventsUrl());
  events.addEventListener('open', () => setLiveState('live', 'live'));
  events.addEventListener('error', () => setLiveState('reconnecting…', 'down'));
  for (const name of EVENT_NAMES) events.addEventListener(name, () => scheduleRefresh());
  statsTimer = window.setInterval(() => void refresh(), STATS_INTERVAL_MS);
  nodesTimer = window.setInterval(() => void probeNodes(), NODES_INTERVAL_MS);
}

function stopLive(): void {
  events?.close();
  events = undefined;
  window.clearInterval(statsTimer);
  window.clearInterval(nodesTimer);
  window.clearTimeout(refreshTimer);
}

function scheduleRefresh(): void {
  if (refreshTimer !== undefined) return;
  refreshTimer = window.setTimeout(() => {
    refreshTimer = undefined;
    void refresh();
  }, EVENT_REFRESH_DELAY_MS);
}

async function refresh(): Promise<void> {
  try {
    // With the cluster on, one view of every node; without it the scope is ignored.
    const answer = await api.get<LiveStat>(
      'stat/livestat',
      nodesAvailable ? { scope: 'cluster' } : {},
    );
    if (answer.status !== 200) return;
    renderStreams(answer.data);
  } catch (error) {
    handle(error);
  }
}

// --- streams --------------------------------------------------------------------------------------

interface Room {
  readonly key: string;
  readonly publisher: PublisherItem;
  readonly players: SessionItem[];
}

function rooms(stat: LiveStat): Room[] {
  const byKey = new Map<string, Room>();
  for (const publisher of stat.publishers)
    byKey.set(publisher.key, { key: publisher.key, publisher, players: [] });
  for (const player of stat.players) byKey.get(player.key)?.players.push(player);
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Players' histories added up, aligned on the latest sample (they are all sampled together). */
function outHistory(players: readonly SessionItem[]): number[] {
  const length = Math.max(0, ...players.map((p) => p.bitrate_history?.length ?? 0));
  const sum = new Array<number>(length).fill(0);
  for (const player of players) {
    const history = player.bitrate_history ?? [];
    history.forEach((value, i) => (sum[length - history.length + i] += value));
  }
  return sum;
}

function videoText(p: PublisherItem): string {
  if (!p.video_codec) return 'no video yet';
  const size = p.width && p.height ? ` ${p.width}×${p.height}` : '';
  const fps = p.fps ? ` ${p.fps} fps` : '';
  return `${p.video_codec.toUpperCase()}${size}${fps}`;
}

function audioText(p: PublisherItem): string {
  if (!p.audio_codec) return 'no audio yet';
  const rate = p.sample_rate ? ` ${p.sample_rate / 1000} kHz` : '';
  const channels = p.channels
    ? p.channels === 1
      ? ' mono'
      : p.channels === 2
        ? ' stereo'
        : ` ${p.channels} ch`
    : '';
  return `${p.audio_codec.toUpperCase()}${rate}${channels}`;
}

function viewerCounts(players: readonly SessionItem[]): string {
  if (players.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const player of players) counts.set(player.protocol, (counts.get(player.protocol) ?? 0) + 1);
  return [...counts].map(([protocol, count]) => `${protocol} ${count}`).join(' · ');
}

function button(
  text: string,
  focusKey: string,
  onClick: () => void,
  attributes: Record<string, string> = {},
) {
  const element = h('button', { type: 'button', 'data-focus': focusKey, ...attributes }, text);
  element.addEventListener('click', onClick);
  return element;
}

function renderStreams(stat: LiveStat): void {
  const list = byId('streams');
  const focused = (document.activeElement as HTMLElement | null)?.dataset?.focus;
  const all = rooms(stat);
  const now = Date.now();
  byId('stream-count').textContent = all.length > 0 ? `(${all.length})` : '';
  byId('no-streams').hidden = all.length > 0;
  list.replaceChildren(
    ...all.map((room) => {
      const p = room.publisher;
      const inNow = p.video_speed + p.audio_speed;
      const out = outHistory(room.players);
      const outNow = room.players.reduce(
        (sum, player) => sum + player.video_speed + player.audio_speed,
        0,
      );
      const [app, name] = splitKey(room.key);
      const title = `stream-${room.key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
      return h(
        'article',
        { class: 'stream', 'aria-labelledby': title, 'data-key': room.key },
        h(
          'header',
          {},
          h(
            'h3',
            { id: title },
            room.key,
            p.node ? h('span', { class: 'node' }, ` on ${p.node}`) : null,
          ),
          h(
            'div',
            { class: 'actions' },
            button('Preview', `preview:${room.key}`, () => openPreview(room.key), {
              'aria-label': `Preview ${room.key}`,
            }),
            button('Key…', `key:${room.key}`, () => openKeys(name), {
              'aria-label': `Key of ${name}`,
            }),
            button('Kick publisher', `kick:${p.session_id}`, () => void kick(p, 'publisher'), {
              class: 'danger',
              'aria-label': `Kick the publisher of ${room.key}`,
            }),
          ),
        ),
        h(
          'dl',
          { class: 'facts' },
          fact('Publisher', `${p.remote_addr} (${p.protocol})`),
          fact('Live for', ago(p.since, now), p.since),
          fact('Video', videoText(p)),
          fact('Audio', audioText(p)),
          fact('Viewers', viewerCounts(room.players)),
        ),
        h(
          'div',
          { class: 'rates' },
          rate(
            'In',
            kbps(inNow),
            p.bitrate_history ?? [],
            `bitrate in over the last 30 s, now ${kbps(inNow)}`,
          ),
          rate('Out', kbps(outNow), out, `bitrate out over the last 30 s, now ${kbps(outNow)}`),
        ),
        room.players.length > 0 ? playersTable(room, app) : null,
      );
    }),
  );
  if (focused)
    document.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  if (preview && !all.some((room) => room.key === preview?.key)) {
    byId('preview-state').textContent = `${preview.key} is no longer live.`;
  }
}

function fact(term: string, value: string, title?: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  fragment.append(h('dt', {}, term), h('dd', title ? { title } : {}, value));
  return fragment;
}

function rate(
  label: string,
  now: string,
  history: readonly number[],
  description: string,
): HTMLElement {
  return h(
    'div',
    { class: 'rate' },
    h('span', { class: 'rate-label' }, label),
    sparkline(history, description),
    h('span', { class: 'rate-now' }, now),
  );
}

function playersTable(room: Room, app: string): HTMLElement {
  const now = Date.now();
  return h(
    'table',
    { class: 'table players' },
    h('caption', {}, `Viewers of ${room.key}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Protocol', 'Address', 'Watching for', 'Rate', ''].map((text) =>
          h('th', { scope: 'col' }, text),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      ...room.players.map((player) =>
        h(
          'tr',
          {},
          h('td', { 'data-label': 'Protocol' }, player.protocol),
          h('td', { 'data-label': 'Address' }, player.remote_addr),
          h('td', { 'data-label': 'Watching for', title: player.since }, ago(player.since, now)),
          h('td', { 'data-label': 'Rate' }, kbps(player.video_speed + player.audio_speed)),
          h(
            'td',
            {},
            button('Kick', `kick:${player.session_id}`, () => void kick(player, 'player'), {
              'aria-label': `Kick ${player.protocol} viewer ${player.remote_addr} of ${room.key}`,
              'data-app': app,
            }),
          ),
        ),
      ),
    ),
  );
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

// --- actions --------------------------------------------------------------------------------------

async function kick(session: SessionItem, role: 'publisher' | 'player'): Promise<void> {
  try {
    // Session ids are per node: in the cluster view, the node that holds the session is named too.
    const target: Record<string, string> = { id: String(session.session_id) };
    if (session.node) target.node = session.node;
    const answer = await api.post<unknown>('control/kick', target);
    if (answer.status === 200)
      notice(`Kicked the ${role} ${session.remote_addr} of ${session.key}.`);
    else notice(`Kick failed: ${String(answer.data)}`, 'error');
  } catch (error) {
    handle(error);
  }
  scheduleRefresh();
}

function confirmAction(text: string, action: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm');
  byId('confirm-text').textContent = text;
  byId('confirm-ok').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

function openKeys(room: string): void {
  byId<HTMLInputElement>('key-room').value = room;
  byId('key-result').hidden = true;
  navigate('keys');
  byId<HTMLInputElement>('key-room').focus();
}

function keyRoom(): string | undefined {
  const input = byId<HTMLInputElement>('key-room');
  if (!input.reportValidity()) return undefined;
  return input.value;
}

function showKey(room: string, key: string): void {
  byId('key-room-name').textContent = room;
  byId<HTMLInputElement>('key-value').value = key;
  const app = settings.apps[0]?.name ?? 'live';
  const port = settings.rtmp_port ?? 1935;
  byId('key-url').textContent = `rtmp://${location.hostname}:${port}/${app}/${key}`;
  byId('key-result').hidden = false;
}

function hideKey(): void {
  byId<HTMLInputElement>('key-value').value = '';
  byId('key-url').textContent = '';
  byId('key-result').hidden = true;
}

async function keyAction(action: 'get' | 'reset' | 'delete'): Promise<void> {
  const room = keyRoom();
  if (room === undefined) return;
  if (action === 'reset') {
    const ok = await confirmAction(
      `Reset the key of ${room}? The old key stops working now and a publisher live on it is disconnected.`,
      'Reset key',
    );
    if (!ok) return;
  } else if (action === 'delete') {
    const ok = await confirmAction(
      `Delete ${room}? Its key stops working now and a publisher live on it is disconnected.`,
      'Delete room',
    );
    if (!ok) return;
  }
  try {
    const answer = await api.post<string>(`control/${action}`, { room });
    if (answer.status !== 200) {
      notice(`${action} ${room}: ${answer.data}`, 'error');
      return;
    }
    if (action === 'delete') {
      hideKey();
      notice(`${room} was deleted; its key no longer works.`);
    } else {
      showKey(room, answer.data);
      notice(
        action === 'reset'
          ? `${room} has a new key; the old one is revoked.`
          : `The key of ${room} is shown.`,
      );
    }
  } catch (error) {
    handle(error);
  }
}

async function relayAction(oper: 'start' | 'stop'): Promise<void> {
  const form = byId<HTMLFormElement>('relay-form');
  if (!form.reportValidity()) return;
  const value = (id: string) => byId<HTMLInputElement | HTMLSelectElement>(id).value.trim();
  const direction = value('relay-direction') === 'push' ? 'push' : 'pull';
  const fields: Record<string, string> = {
    oper,
    app: value('relay-app'),
    name: value('relay-name'),
  };
  const url = value('relay-url');
  if (url !== '') fields.url = url;
  try {
    const answer = await api.post<unknown>(`control/${direction}`, fields);
    notice(
      answer.status === 200
        ? `${direction} relay ${oper === 'start' ? 'started' : 'stopped'}.`
        : `${direction} ${oper}: ${String(answer.data)}`,
      answer.status === 200 ? 'ok' : 'error',
    );
  } catch (error) {
    handle(error);
  }
}

// --- preview --------------------------------------------------------------------------------------

function previewProtocol(): PreviewProtocol {
  const checked = document.querySelector<HTMLInputElement>(
    'input[name="preview-protocol"]:checked',
  );
  return checked?.value === 'hls' ? 'hls' : 'flv';
}

function mediaUrl(key: string, protocol: PreviewProtocol): string | undefined {
  const [app, room] = splitKey(key);
  const entry = settings.apps.find((a) => a.name === app);
  const port = protocol === 'flv' ? settings.httpflv_port : settings.hls_port;
  if (port === null || (entry && !(protocol === 'flv' ? entry.flv : entry.hls))) return undefined;
  const path = `/${encodeURIComponent(app)}/${encodeURIComponent(room)}.${protocol === 'flv' ? 'flv' : 'm3u8'}`;
  return `${location.protocol}//${location.hostname}:${port}${path}`;
}

function openPreview(key: string): void {
  stopPreview();
  preview = { key, player: undefined };
  byId('preview').hidden = false;
  byId('preview-title').textContent = `Preview of ${key}`;
  void playPreview();
  byId('preview').scrollIntoView({ block: 'nearest' });
  document.querySelector<HTMLInputElement>('input[name="preview-protocol"]:checked')?.focus();
}

async function playPreview(): Promise<void> {
  if (!preview) return;
  const current = preview;
  current.player?.stop();
  current.player = undefined;
  const protocol = previewProtocol();
  const url = mediaUrl(current.key, protocol);
  const state = byId('preview-state');
  if (!url) {
    state.textContent = `${current.key} is not served over ${protocol === 'flv' ? 'HTTP-FLV' : 'HLS'}.`;
    return;
  }
  state.textContent = `Playing ${url}`;
  const video = byId<HTMLVideoElement>('preview-video');
  video.dataset.protocol = protocol;
  try {
    const player = await startPreview(video, protocol, url, (message) => {
      state.textContent = `Playback stopped: ${message}`;
    });
    if (preview === current) current.player = player;
    else player.stop();
  } catch (error) {
    state.textContent = error instanceof Error ? error.message : String(error);
  }
}

function stopPreview(): void {
  preview?.player?.stop();
  preview = undefined;
  byId('preview').hidden = true;
  byId('preview-state').textContent = '';
}

// --- nodes (cluster) ------------------------------------------------------------------------------

async function probeNodes(): Promise<void> {
  let nodes: readonly NodeItem[] | undefined;
  try {
    const answer = await api.get<readonly NodeItem[] | { nodes: readonly NodeItem[] }>(
      'stat/cluster',
    );
    if (answer.status === 200)
      nodes = Array.isArray(answer.data)
        ? answer.data
        : (answer.data as { nodes: NodeItem[] }).nodes;
  } catch (error) {
    if (error instanceof UnauthorizedError) return handle(error);
  }
  nodesAvailable = Array.isArray(nodes);
  const navButton = document.querySelector<HTMLButtonElement>('#nav button[data-view="nodes"]');
  if (navButton) navButton.hidden = !nodesAvailable;
  if (!nodesAvailable) {
    if (!byId('view-nodes').hidden) navigate('streams');
    return;
  }
  const now = Date.now();
  byId('nodes').replaceChildren(
    ...(nodes ?? []).map((node) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row', 'data-label': 'Node' }, node.id),
        h('td', { 'data-label': 'Advertise' }, node.advertise),
        h('td', { 'data-label': 'Since', title: node.since }, ago(node.since, now)),
        h(
          'td',
          { 'data-label': 'Last seen', title: node.last_seen },
          `${ago(node.last_seen, now)} ago`,
        ),
        h('td', { 'data-label': 'Streams' }, node.streams),
        h('td', { 'data-label': 'Players' }, node.players),
      ),
    ),
  );
}

// --- wiring ---------------------------------------------------------------------------------------

for (const navButton of document.querySelectorAll<HTMLButtonElement>('#nav button')) {
  navButton.addEventListener('click', () => navigate(navButton.dataset.view as View));
}
window.addEventListener('popstate', () => show(viewFromHash()));
byId('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void keyAction('get');
});
for (const action of ['reset', 'delete'] as const) {
  byId('key-form')
    .querySelector(`[data-action="${action}"]`)
    ?.addEventListener('click', () => void keyAction(action));
}
byId('key-copy').addEventListener('click', () => {
  const value = byId<HTMLInputElement>('key-value').value;
  void navigator.clipboard?.writeText(value).then(
    () => notice('Key copied.'),
    () => {
      byId<HTMLInputElement>('key-value').select();
      notice('Select and copy the key (the browser refused the clipboard).', 'error');
    },
  );
});
byId('key-hide').addEventListener('click', () => hideKey());
byId('relay-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void relayAction('start');
});
byId('relay-form')
  .querySelector('[data-oper="stop"]')
  ?.addEventListener('click', () => void relayAction('stop'));
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="preview-protocol"]')) {
  radio.addEventListener('change', () => void playPreview());
}
byId('preview-close').addEventListener('click', () => stopPreview());
void start();
