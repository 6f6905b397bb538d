// Runs the built server's RTMP protocol engine on inputs sent by rtmp-cost-fuzz.e2e-spec.ts, in a
// plain Node process (as the server runs it, not inside the test runner's sandbox), and reports what
// each input cost: the slowest 64 KiB piece, the bytes held afterwards, the bytes answered, the error.
'use strict';
const { RtmpProtocol } = require(process.argv[2]);

const SOCKET_READ_BYTES = 64 * 1024;

process.on('message', ({ id, prefix, input, maxMessageSizeBytes }) => {
  const data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let outputBytes = 0;
  const protocol = new RtmpProtocol(
    {
      output: (bytes) => (outputBytes += bytes.length),
      connect: () => undefined,
      publish: () => undefined,
      play: () => undefined,
      closeStream: () => undefined,
      media: () => undefined,
    },
    { maxMessageSizeBytes },
  );
  protocol.feed(Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength));
  const prefixOutput = outputBytes;
  let worstPieceMs = 0;
  let error;
  for (let at = 0; at < data.length && error === undefined; at += SOCKET_READ_BYTES) {
    const piece = data.subarray(at, at + SOCKET_READ_BYTES);
    const started = performance.now();
    try {
      protocol.feed(piece);
    } catch (thrown) {
      error = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
    }
    worstPieceMs = Math.max(worstPieceMs, performance.now() - started);
  }
  process.send({
    id,
    worstPieceMs,
    heldBytes: protocol.heldBytes,
    outputBytes: outputBytes - prefixOutput,
    error,
  });
});
process.send({ ready: true });
