import type { Socket } from 'node:net';

/**
 * Where a socket's reads land and who takes them, without the stream: the
 * read path that `net.connect({ onread })` offers, for sockets Node did not
 * connect itself (a TLS socket a server accepted has no such option).
 */
export interface DirectReader {
  /** The buffer the next read lands in; asked after every read. */
  target(): Buffer;
  /** `bytes` read into the start of `buffer` (the target last given); false pauses reading until `socket.resume()`. */
  onRead(bytes: number, buffer: Buffer): boolean;
}

interface UserBufferSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly next: symbol;
}

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

let slots: UserBufferSlots | null | undefined;

/** net.Socket keeps its `onread` option in three symbol-keyed fields, the same on every socket. */
function userBufferSlots(socket: Socket): UserBufferSlots | null {
  const named = new Map(Object.getOwnPropertySymbols(socket).map((symbol) => [symbol.description, symbol]));
  const buffer = named.get('kBuffer');
  const callback = named.get('kBufferCb');
  const next = named.get('kBufferGen');
  return buffer === undefined || callback === undefined || next === undefined ? null : { buffer, callback, next };
}

/**
 * Hand `socket`'s reads to `reader` from now on, as `onread` would: each
 * read (for TLS, each decrypted record) is copied by Node straight into
 * `reader.target()` and handed to `reader.onRead`, with no chunk pushed
 * through the stream, no `data` event and no buffer allocated per read.
 * The end of the stream and errors still arrive as `end` and `error`.
 *
 * This sets net.Socket's internal `onread` fields, which Node has kept since
 * 12 but does not promise: when they are not found (another Node) nothing
 * is changed and the answer is false, and the caller reads `data` events.
 * Call it with nothing left in the socket's readable buffer.
 */
export function readDirect(socket: Socket, reader: DirectReader): boolean {
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (handle?.useUserBuffer === undefined || socket.readableLength > 0) return false;
  slots ??= userBufferSlots(socket);
  if (slots === null) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  const first = reader.target();
  fields[slots.buffer] = first;
  fields[slots.callback] = (bytes: number, buffer: Buffer): boolean => reader.onRead(bytes, buffer);
  fields[slots.next] = (): Buffer => reader.target();
  handle.useUserBuffer(first);
  return true;
}
