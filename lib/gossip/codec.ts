// Binary wire format of gossip messages and of the (plaintext) packet that carries several of them.
// Every read is bounds-checked and throws CodecError, which the receive path turns into a counted drop.
//
// packet  = format u8 (=1) ‖ sender str8 ‖ epoch u48 ‖ seq u32 ‖ count u8 ‖ count × (len u16 ‖ message)
// message = type u8 ‖ fields (below). Type numbers are wire protocol: append only.
//
// Protocol versions (version.ts): protocol 1 is exactly this layout as vipd 0.1.0 (0c363b2) reads it: it
// rejects a whole packet holding an unknown message type or a message with bytes after its fields. From
// protocol 2 a receiver skips unknown message types and ignores bytes after a message's known fields, so a
// new message or an optional field appended to one needs no bump; send either only to a cluster that speaks
// protocol ≥ 2 (Memberlist.versions.protocol), never while a 0.1.0 member is live.

export type MemberStateName = "alive" | "suspect" | "dead" | "left";

export interface PushPullEntry {
  name: string;
  addr: string;
  incarnation: number;
  state: MemberStateName;
  /** 16 hex chars: first 8 bytes of SHA-256 of the encoded metadata. */
  metaDigest: string;
}

export type Message =
  | { type: "ping"; seq: number; target: string }
  | { type: "ping-req"; seq: number; target: string; targetAddr: string }
  | { type: "ack"; seq: number }
  | { type: "nack"; seq: number }
  | { type: "heartbeat"; incarnation: number; stop: boolean }
  | { type: "alive"; name: string; addr: string; incarnation: number; metaDigest: string; meta?: Buffer }
  | { type: "suspect"; name: string; incarnation: number; from: string }
  | { type: "dead"; name: string; incarnation: number; from: string }
  | {
      type: "push-pull";
      requestId: number;
      reply: boolean;
      join: boolean;
      part: number;
      parts: number;
      states: PushPullEntry[];
    }
  | { type: "meta-req"; name: string; digest: string; parts: number[] }
  | { type: "meta-chunk"; name: string; digest: string; part: number; parts: number; data: Buffer };

export type MessageType = Message["type"];

const TYPE_IDS: Record<MessageType, number> = {
  ping: 0,
  "ping-req": 1,
  ack: 2,
  nack: 3,
  heartbeat: 4,
  alive: 5,
  suspect: 6,
  dead: 7,
  "push-pull": 8,
  "meta-req": 9,
  "meta-chunk": 10,
};
export const MESSAGE_TYPES = Object.keys(TYPE_IDS) as MessageType[];
const STATE_IDS: Record<MemberStateName, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATES: MemberStateName[] = ["alive", "suspect", "dead", "left"];
const PACKET_FORMAT = 1;
export const DIGEST_BYTES = 8;

export class CodecError extends Error {}

/** A message type this build does not know: skipped inside a packet (protocol 2), an error on its own. */
export class UnknownMessageTypeError extends CodecError {}

class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(size = 128) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  u48(v: number): void {
    this.room(6);
    this.buf.writeUIntBE(v, this.pos, 6);
    this.pos += 6;
  }

  str8(s: string): void {
    const len = Buffer.byteLength(s);
    if (len > 255) throw new CodecError(`string too long (${len} bytes)`);
    this.u8(len);
    this.room(len);
    this.pos += this.buf.write(s, this.pos, "utf8");
  }

  bytes16(b: Buffer): void {
    if (b.length > 0xffff) throw new CodecError("blob too long");
    this.u16(b.length);
    this.raw(b);
  }

  raw(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  digest(hex: string): void {
    if (!/^[0-9a-f]{16}$/.test(hex)) throw new CodecError("bad digest");
    this.raw(Buffer.from(hex, "hex"));
  }

  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly end = buf.length,
    start = 0,
  ) {
    this.pos = start;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new CodecError("truncated");
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u48(): number {
    this.need(6);
    const v = this.buf.readUIntBE(this.pos, 6);
    this.pos += 6;
    return v;
  }

  str8(): string {
    const len = this.u8();
    this.need(len);
    const s = this.buf.toString("utf8", this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  name(): string {
    const s = this.str8();
    if (s.length === 0) throw new CodecError("empty name");
    return s;
  }

  bytes16(): Buffer {
    const len = this.u16();
    this.need(len);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return b;
  }

  digest(): string {
    this.need(DIGEST_BYTES);
    const s = this.buf.toString("hex", this.pos, this.pos + DIGEST_BYTES);
    this.pos += DIGEST_BYTES;
    return s;
  }

  finish(): void {
    if (this.pos !== this.end) throw new CodecError("trailing bytes");
  }

  /** Moves past whatever follows the fields this build knows: a later release's optional fields. */
  skipRest(): void {
    this.pos = this.end;
  }
}

export function encodeMessage(m: Message): Buffer {
  const w = new Writer();
  w.u8(TYPE_IDS[m.type]);
  switch (m.type) {
    case "ping":
      w.u32(m.seq);
      w.str8(m.target);
      break;
    case "ping-req":
      w.u32(m.seq);
      w.str8(m.target);
      w.str8(m.targetAddr);
      break;
    case "ack":
    case "nack":
      w.u32(m.seq);
      break;
    case "heartbeat":
      w.u32(m.incarnation);
      w.u8(m.stop ? 1 : 0);
      break;
    case "alive":
      w.str8(m.name);
      w.str8(m.addr);
      w.u32(m.incarnation);
      w.digest(m.metaDigest);
      w.u8(m.meta ? 1 : 0);
      if (m.meta) w.bytes16(m.meta);
      break;
    case "suspect":
    case "dead":
      w.str8(m.name);
      w.u32(m.incarnation);
      w.str8(m.from);
      break;
    case "push-pull":
      w.u32(m.requestId);
      w.u8((m.reply ? 1 : 0) | (m.join ? 2 : 0));
      w.u16(m.part);
      w.u16(m.parts);
      w.u16(m.states.length);
      for (const s of m.states) encodeEntry(w, s);
      break;
    case "meta-req":
      w.str8(m.name);
      w.digest(m.digest);
      w.u16(m.parts.length);
      for (const p of m.parts) w.u16(p);
      break;
    case "meta-chunk":
      w.str8(m.name);
      w.digest(m.digest);
      w.u16(m.part);
      w.u16(m.parts);
      w.bytes16(m.data);
      break;
  }
  return w.done();
}

function encodeEntry(w: Writer, s: PushPullEntry): void {
  w.str8(s.name);
  w.str8(s.addr);
  w.u32(s.incarnation);
  w.u8(STATE_IDS[s.state]);
  w.digest(s.metaDigest);
}

/** Encoded size of one push-pull entry, to pack chunks without re-encoding. */
export function entrySize(s: PushPullEntry): number {
  return 1 + Buffer.byteLength(s.name) + 1 + Buffer.byteLength(s.addr) + 4 + 1 + DIGEST_BYTES;
}

export function decodeMessage(buf: Buffer, start = 0, end = buf.length): Message {
  const r = new Reader(buf, end, start);
  const t = r.u8();
  let m: Message;
  switch (t) {
    case 0:
      m = { type: "ping", seq: r.u32(), target: r.name() };
      break;
    case 1:
      m = { type: "ping-req", seq: r.u32(), target: r.name(), targetAddr: r.name() };
      break;
    case 2:
      m = { type: "ack", seq: r.u32() };
      break;
    case 3:
      m = { type: "nack", seq: r.u32() };
      break;
    case 4: {
      const incarnation = r.u32();
      const flag = r.u8();
      if (flag > 1) throw new CodecError("bad heartbeat flag");
      m = { type: "heartbeat", incarnation, stop: flag === 1 };
      break;
    }
    case 5: {
      const name = r.name();
      const addr = r.name();
      const incarnation = r.u32();
      const metaDigest = r.digest();
      const flag = r.u8();
      if (flag > 1) throw new CodecError("bad alive flag");
      m = flag
        ? { type: "alive", name, addr, incarnation, metaDigest, meta: r.bytes16() }
        : { type: "alive", name, addr, incarnation, metaDigest };
      break;
    }
    case 6:
    case 7:
      m = { type: t === 6 ? "suspect" : "dead", name: r.name(), incarnation: r.u32(), from: r.name() };
      break;
    case 8: {
      const requestId = r.u32();
      const flags = r.u8();
      if (flags > 3) throw new CodecError("bad push-pull flags");
      const part = r.u16();
      const parts = r.u16();
      if (parts === 0 || part >= parts) throw new CodecError("bad push-pull part");
      const count = r.u16();
      const states: PushPullEntry[] = [];
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const addr = r.name();
        const incarnation = r.u32();
        const st = STATES[r.u8()];
        if (!st) throw new CodecError("bad member state");
        states.push({ name, addr, incarnation, state: st, metaDigest: r.digest() });
      }
      m = {
        type: "push-pull",
        requestId,
        reply: (flags & 1) !== 0,
        join: (flags & 2) !== 0,
        part,
        parts,
        states,
      };
      break;
    }
    case 9: {
      const name = r.name();
      const digest = r.digest();
      const count = r.u16();
      const parts: number[] = [];
      for (let i = 0; i < count; i++) parts.push(r.u16());
      m = { type: "meta-req", name, digest, parts };
      break;
    }
    case 10: {
      const name = r.name();
      const digest = r.digest();
      const part = r.u16();
      const parts = r.u16();
      if (parts === 0 || part >= parts) throw new CodecError("bad meta part");
      m = { type: "meta-chunk", name, digest, part, parts, data: r.bytes16() };
      break;
    }
    default:
      throw new UnknownMessageTypeError(`unknown message type ${t}`);
  }
  r.skipRest();
  return m;
}

export interface PacketHeader {
  sender: string;
  /** Sender's boot epoch (wall-clock ms at start): a restart gets a new one and a fresh sequence space. */
  epoch: number;
  seq: number;
}

export function headerSize(sender: string): number {
  return 1 + 1 + Buffer.byteLength(sender) + 6 + 4 + 1;
}

/** Packs already-encoded messages (each ≤ 65535 bytes) behind a header. */
export function encodePacket(h: PacketHeader, messages: readonly Buffer[]): Buffer {
  if (messages.length > 255) throw new CodecError("too many messages");
  const w = new Writer(headerSize(h.sender) + messages.reduce((n, m) => n + 2 + m.length, 0));
  w.u8(PACKET_FORMAT);
  w.str8(h.sender);
  w.u48(h.epoch);
  w.u32(h.seq);
  w.u8(messages.length);
  for (const m of messages) w.bytes16(m);
  return w.done();
}

export interface DecodedPacket {
  header: PacketHeader;
  messages: Message[];
}

export function decodePacketHeader(buf: Buffer): { header: PacketHeader; bodyStart: number } {
  const r = new Reader(buf);
  if (r.u8() !== PACKET_FORMAT) throw new CodecError("unknown packet format");
  const sender = r.name();
  const epoch = r.u48();
  const seq = r.u32();
  return { header: { sender, epoch, seq }, bodyStart: r.pos };
}

/** Decodes all messages after the header; the whole packet is rejected if any one is malformed. */
/** `sizes`, if given, receives each message's encoded length (for per-type byte counters). */
export function decodePacketBody(buf: Buffer, bodyStart: number, sizes?: number[]): Message[] {
  const r = new Reader(buf, buf.length, bodyStart);
  const count = r.u8();
  if (count === 0) throw new CodecError("empty packet");
  const out: Message[] = [];
  for (let i = 0; i < count; i++) {
    const len = r.u16();
    const start = r.pos;
    if (start + len > buf.length) throw new CodecError("truncated");
    try {
      out.push(decodeMessage(buf, start, start + len));
      sizes?.push(len);
    } catch (e) {
      if (!(e instanceof UnknownMessageTypeError)) throw e;
    }
    r.pos = start + len;
  }
  r.finish();
  return out;
}

export function decodePacket(buf: Buffer): DecodedPacket {
  const { header, bodyStart } = decodePacketHeader(buf);
  return { header, messages: decodePacketBody(buf, bodyStart) };
}
