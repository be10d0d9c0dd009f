// The part of the `raw-socket` package's API that vipd uses (the package ships no typings).
declare module "raw-socket" {
  import { EventEmitter } from "node:events";

  export const AddressFamily: { readonly IPv4: number; readonly IPv6: number };
  export const Protocol: {
    readonly None: number;
    readonly ICMP: number;
    readonly TCP: number;
    readonly UDP: number;
    readonly ICMPv6: number;
  };
  export const SocketLevel: {
    readonly SOL_SOCKET: number;
    readonly IPPROTO_IP: number;
    readonly IPPROTO_IPV6: number;
  };
  export const SocketOption: Readonly<Record<string, number>>;

  export interface SocketOptions {
    addressFamily?: number;
    protocol?: number;
    bufferSize?: number;
    generateChecksums?: boolean;
    checksumOffset?: number;
  }

  export class Socket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | undefined, bytes: number) => void,
    ): this;
    setOption(level: number, option: number, value: number): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
    pauseRecv(): this;
    pauseSend(): this;
    close(): this;
  }

  export function createSocket(options?: SocketOptions): Socket;
}
