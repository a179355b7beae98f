/**
 * One message to many WebSocket clients, framed once. `ws`'s `send()` frames the payload again for
 * every client (a header allocated and a corked two-part write each time); here the frame — header
 * and payload in one buffer — is built once per message with ws's own `Sender.frame` and handed to
 * each client's sender with `sendFrame`, one plain socket write per client. This is the route ws's
 * maintainers made `Sender.frame` public for (server broadcasts, websockets/ws#1016); `sendFrame` is
 * ws's internal write path, so it is used only when it is there and the connection negotiated no
 * extension (no per-message compression, which would need a frame per client); otherwise `send()`.
 */
import * as ws from 'ws';
import WebSocket from 'ws';
import type { Encoded } from './outbox.ts';

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
/** The parts of ws's Sender used here (not in @types/ws). */
interface SenderStatics {
  frame(data: Buffer, options: FrameOptions): Buffer[];
}
interface SenderInstance {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
}

// ws exports its Sender (a named export of its ESM entry), though @types/ws does not declare it
const Sender = (ws as unknown as { Sender: SenderStatics }).Sender;
const TEXT = 1;

/** A server's text frame of `data` (final, unmasked, uncompressed), header and payload in one buffer. */
export function textFrame(data: Buffer): Buffer {
  const parts = Sender.frame(data, { fin: true, opcode: TEXT, mask: false, readOnly: true, rsv1: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Sends an encoded message as a text frame, framing it only if no client has yet. */
export function sendEncoded(socket: WebSocket, m: Encoded, cb: (err?: Error) => void): void {
  const sender = (socket as unknown as { _sender?: SenderInstance | null })._sender;
  if (socket.readyState !== WebSocket.OPEN || socket.extensions !== '' || typeof sender?.sendFrame !== 'function')
    return socket.send(m.data, { binary: false }, cb);
  m.frame ??= textFrame(m.data);
  sender.sendFrame([m.frame], cb);
}
