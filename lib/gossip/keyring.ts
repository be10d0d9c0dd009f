// Cluster keys: AES-256-GCM with a keyring (first key = primary, used to send; every key tried on receive),
// so keys rotate add → use → remove with no downtime. The cluster label is bound as additional
// authenticated data, so two clusters on one LAN can never decrypt, let alone merge, each other's packets.
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from "node:crypto";

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Wire version byte of an encrypted packet. */
export const ENCRYPTED_VERSION = 1;
/** Bytes an encrypted packet adds to its plaintext: version + nonce + tag. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

/** What the daemon prints when neither a key file nor `cluster.insecure: true` is configured. */
export const NO_KEY_MESSAGE =
  "no gossip key: cluster traffic must be encrypted. Create a key with `vipd keygen > /etc/vipd/gossip.key` " +
  "and make it readable by the daemon's group only (`chgrp vipd` and `chmod 0640`: the service runs as user " +
  "vipd), copy the same file to every node and set cluster.keyFile; or set cluster.insecure: true " +
  "to run in plaintext on a trusted network (not recommended).";

/** Printed at every start in insecure mode. */
export const INSECURE_WARNING =
  "WARNING: cluster.insecure is true: gossip runs in PLAINTEXT without authentication; anyone on the network " +
  "can join or forge membership. Create a key with `vipd keygen > /etc/vipd/gossip.key`.";

/** A fresh random key in keyring-file form (base64 of 32 bytes). */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

export class KeyringError extends Error {}

function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new KeyringError(`${where}: not base64`);
  const key = Buffer.from(trimmed, "base64");
  if (key.length !== KEY_BYTES)
    throw new KeyringError(
      `${where}: key is ${key.length} bytes, want ${KEY_BYTES} (AES-256); create one with \`vipd keygen\``,
    );
  return key;
}

/** Parses a keyring file: base64 keys, one per line, first is primary; blank lines and `#` comments ignored. */
export function parseKeyring(text: string): Keyring {
  const keys: Buffer[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    keys.push(decodeKey(t, `keyring line ${i + 1}`));
  });
  if (keys.length === 0)
    throw new KeyringError("keyring: no keys; create one with `vipd keygen > /etc/vipd/gossip.key`");
  return new Keyring(keys);
}

// Nonces are random (96 bit), drawn from a refilled pool: random nonces stay safe when several nodes share
// a key, where per-node counters could collide.
const noncePool = Buffer.alloc(NONCE_BYTES * 1024);
let nonceOffset = noncePool.length;
/** Writes the next nonce into `out` at `offset`. */
function writeNonce(out: Buffer, offset: number): void {
  if (nonceOffset + NONCE_BYTES > noncePool.length) {
    randomFillSync(noncePool);
    nonceOffset = 0;
  }
  noncePool.copy(out, offset, nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
}

export class Keyring {
  private keys: Buffer[];
  /** version ‖ label, the additional authenticated data, for the last label used (there is one per cluster). */
  private aadLabel: Buffer | undefined;
  private aad = Buffer.alloc(0);

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new KeyringError("keyring: at least one key required");
    for (const k of keys)
      if (k.length !== KEY_BYTES) throw new KeyringError(`keyring: keys must be ${KEY_BYTES} bytes`);
    this.keys = keys.map((k) => Buffer.from(k));
  }

  static fromBase64(...keys: string[]): Keyring {
    return new Keyring(keys.map((k, i) => decodeKey(k, `key ${i + 1}`)));
  }

  get size(): number {
    return this.keys.length;
  }

  /** Base64 of every key, primary first (for `keyring list` and tests). */
  list(): string[] {
    return this.keys.map((k) => k.toString("base64"));
  }

  /** Rotation step 1 (on every node): accept packets sealed with this key. */
  addKey(b64: string): void {
    const key = decodeKey(b64, "addKey");
    if (!this.keys.some((k) => k.equals(key))) this.keys.push(key);
  }

  /** Rotation step 2: send with this key (it must already be installed). */
  useKey(b64: string): void {
    const key = decodeKey(b64, "useKey");
    const i = this.keys.findIndex((k) => k.equals(key));
    if (i < 0) throw new KeyringError("useKey: key not installed; addKey it first");
    const [k] = this.keys.splice(i, 1);
    this.keys.unshift(k as Buffer);
  }

  /** Rotation step 3: drop the old key. Removing the primary is refused (nothing to send with). */
  removeKey(b64: string): void {
    const key = decodeKey(b64, "removeKey");
    const i = this.keys.findIndex((k) => k.equals(key));
    if (i < 0) return;
    if (i === 0)
      throw new KeyringError("removeKey: refusing to remove the primary key; useKey another first");
    this.keys.splice(i, 1);
  }

  /** The AAD for `label`, built once: every packet of a cluster carries the same one. */
  private aadFor(label: Buffer): Buffer {
    if (this.aadLabel === undefined || !this.aadLabel.equals(label)) {
      this.aad = Buffer.concat([Buffer.of(ENCRYPTED_VERSION), label]);
      this.aadLabel = Buffer.from(label);
    }
    return this.aad;
  }

  /**
   * version ‖ nonce ‖ ciphertext ‖ tag, with version ‖ label as AAD. Written into one buffer: a node seals
   * some 80 packets a second, and each intermediate buffer is garbage the collector's helpers must chase.
   */
  seal(plaintext: Buffer, label: Buffer): Buffer {
    const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plaintext.length);
    out[0] = ENCRYPTED_VERSION;
    writeNonce(out, 1);
    const cipher = createCipheriv("aes-256-gcm", this.keys[0] as Buffer, out.subarray(1, 1 + NONCE_BYTES));
    cipher.setAAD(this.aadFor(label));
    // GCM is a stream mode: update returns every byte of ciphertext and final() none.
    let at = 1 + NONCE_BYTES;
    at += cipher.update(plaintext).copy(out, at);
    at += cipher.final().copy(out, at);
    cipher.getAuthTag().copy(out, at);
    return out;
  }

  /** The plaintext, or undefined when no key (or label) authenticates the packet. Never throws. */
  open(packet: Buffer, label: Buffer): Buffer | undefined {
    if (packet.length < SEAL_OVERHEAD || packet[0] !== ENCRYPTED_VERSION) return undefined;
    const nonce = packet.subarray(1, 1 + NONCE_BYTES);
    const body = packet.subarray(1 + NONCE_BYTES, packet.length - TAG_BYTES);
    const tag = packet.subarray(packet.length - TAG_BYTES);
    const aad = this.aadFor(label);
    for (const key of this.keys) {
      try {
        const d = createDecipheriv("aes-256-gcm", key, nonce);
        d.setAAD(aad);
        d.setAuthTag(tag);
        const plain = d.update(body);
        // final() authenticates (throws on a bad tag) and, GCM being a stream mode, adds no bytes.
        const rest = d.final();
        return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
      } catch {
        // Wrong key or forged/corrupted packet: try the next key.
      }
    }
    return undefined;
  }
}
