// Checks cluster.keyFile the way the daemon will read it, so `vipd validate` catches a missing or broken
// keyring instead of `vipd run` failing on a raw ENOENT. A thin I/O edge: one file read.
import { readFileSync } from "node:fs";
import { NO_KEY_MESSAGE, parseKeyring } from "../gossip/keyring";
import { diagnostic } from "./diagnostics";
import type { Settings } from "./settings";
import type { Diagnostic, SourceRef } from "./types";

/**
 * Errors for a keyFile that is missing, a directory or not a keyring; a warning when this user may not read
 * it (validate runs unprivileged, the daemon as the vipd user) or when there is no keyFile at all.
 */
export function checkKeyFile(settings: Settings, source: SourceRef | undefined): Diagnostic[] {
  const keyFile = settings.cluster.keyFile;
  if (keyFile === null) {
    if (settings.cluster.insecure) return [];
    return [
      diagnostic("warning", `cluster.keyFile is not set: vipd run will refuse to start. ${NO_KEY_MESSAGE}`),
    ];
  }
  const create = `create it with \`vipd keygen > ${keyFile}\` on one node and copy it to every node`;
  let text: string;
  try {
    text = readFileSync(keyFile, "utf8");
  } catch (err) {
    const code = err instanceof Error && "code" in err ? err.code : undefined;
    if (code === "EACCES")
      return [
        diagnostic(
          "warning",
          `cluster.keyFile ${keyFile}: not readable by this user (the daemon's user must read it)`,
          source,
        ),
      ];
    const reason =
      code === "ENOENT"
        ? `no such file; ${create}`
        : code === "EISDIR"
          ? "is a directory, not a keyring file"
          : String(err);
    return [diagnostic("error", `cluster.keyFile ${keyFile}: ${reason}`, source)];
  }
  try {
    parseKeyring(text);
  } catch (err) {
    return [diagnostic("error", `cluster.keyFile ${keyFile}: ${(err as Error).message}`, source)];
  }
  return [];
}
