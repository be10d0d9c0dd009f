// The real PacketTransport: every announcement (ARP and NA alike) is a whole Ethernet frame sent through
// one AF_PACKET socket, a batch per sendmmsg call. The socket is opened on first use.
import type { OutgoingPacket, PacketTransport } from "./announcer";
import { PacketSocket } from "./packet-socket";

export class KernelTransport implements PacketTransport {
  private packets?: PacketSocket;

  send(packet: OutgoingPacket): boolean {
    this.packets ??= new PacketSocket();
    return this.packets.send(packet.ifindex, packet.bytes);
  }

  sendMany(packets: readonly OutgoingPacket[]): number {
    this.packets ??= new PacketSocket();
    return this.packets.sendMany(packets.map((p) => ({ ifindex: p.ifindex, frame: p.bytes })));
  }

  close(): void {
    this.packets?.close();
    this.packets = undefined;
  }
}
