// The gossip keyring file: read at start-up, re-read on SIGHUP to rotate keys without a restart.
import { readFileSync } from "node:fs";
import { INSECURE_WARNING, NO_KEY_MESSAGE, parseKeyring, type Keyring } from "../gossip/keyring";
import type { Logger } from "./log";

/** The keyring in `keyFile`; without one, gossip runs unencrypted only when `insecure` says so. */
export function readKeyring(keyFile: string | null, insecure: boolean, log: Logger): Keyring | undefined {
  if (keyFile === null) {
    if (!insecure) throw new Error(NO_KEY_MESSAGE);
    log.log("warn", "insecureGossip", INSECURE_WARNING);
    return undefined;
  }
  return parseKeyring(readFileSync(keyFile, "utf8"));
}

/**
 * Key rotation in place: the file's keys replace the running ones (new keys added, the first line made
 * primary, keys no longer listed dropped). Returns how many keys the file has; throws on a bad file, and
 * then the running keys are untouched.
 */
export function rotateKeyring(keyring: Keyring, keyFile: string): number {
  const wanted = parseKeyring(readFileSync(keyFile, "utf8")).list();
  for (const key of wanted) keyring.addKey(key);
  keyring.useKey(wanted[0] ?? "");
  for (const key of keyring.list()) if (!wanted.includes(key)) keyring.removeKey(key);
  return wanted.length;
}

/**
 * SIGHUP: rotates the gossip keys from the key file and hands them to gossip; a bad file keeps the running
 * keys (logged). Nothing to do without a keyring or a key file.
 */
export function reloadKeyring(
  keyring: Keyring | undefined,
  keyFile: string | null,
  gossip: { setKeys(keys: string[]): void },
  log: Logger,
  events: { event(reason: string, message: string): void },
): void {
  if (!keyring || keyFile === null) return;
  try {
    const count = rotateKeyring(keyring, keyFile);
    gossip.setKeys(keyring.list());
    events.event("keyringReloaded", `gossip keyring reloaded: ${count} key(s)`);
  } catch (error) {
    const message = `${keyFile}: ${(error as Error).message}; keeping the running keys`;
    log.log("error", "keyringInvalid", message);
  }
}
