// The packet edge: the protocol only sends and receives datagrams to "host:port" addresses. Production uses
// UDP (udp-transport.ts); tests use the in-memory simulated network (sim-network.ts).

export type PacketHandler = (packet: Buffer, from: string) => void;

export interface Transport {
  /** The "host:port" this transport receives on. */
  readonly localAddress: string;
  /** Fire and forget; a datagram may be lost. Never throws for network errors. */
  send(to: string, packet: Buffer): void;
  onPacket(handler: PacketHandler): void;
  close(): Promise<void>;
}

/** "host:port" and "[v6]:port" → parts; undefined when malformed. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:[\]]+):(\d{1,5})$/.exec(addr);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] as string, port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
