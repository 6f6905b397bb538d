/** The one spelling of a stream's name: `app/room` (stats `key`, log lines, HLS and registry maps). */
export function streamKey(app: string, room: string): string {
  return `${app}/${room}`;
}
