// Byte-level helpers shared by the frame builders and parsers: MAC and IP <-> bytes.
import { formatValue, parseIp, type Family } from "../ip";

export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
export const ZERO_MAC = "00:00:00:00:00:00";

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`invalid MAC address ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bytesToMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Network-order bytes of an IP; throws on text that is not an IP of the expected family. */
export function ipToBytes(text: string, family: Family): Buffer {
  const ip = parseIp(text);
  if (!ip || ip.family !== family) throw new Error(`not an IPv${family} address: ${JSON.stringify(text)}`);
  const out = Buffer.alloc(family === 4 ? 4 : 16);
  let v = ip.value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function bytesToIp(bytes: Uint8Array): string {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return formatValue(bytes.length === 4 ? 4 : 6, v);
}
