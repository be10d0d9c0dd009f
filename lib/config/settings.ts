// The daemon settings file (/etc/vipd/vipd.yaml) and the flags that override it. The schema is one
// declarative table, SETTINGS below: a key is added by adding a row (and its field in `Settings`).
import { readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { FAILURE_TIMEOUT_MAX_MS, FAILURE_TIMEOUT_MIN_MS } from "../gossip/config";
import { canonicalIp, parseHostPort, parseIp } from "../ip";
import { diagnostic, hasErrors } from "./diagnostics";
import { labelKeyProblem, labelValueProblem } from "./selectors";
import { unknownKeyMessage } from "./suggest";
import type { Diagnostic, SourceRef } from "./types";

export const DEFAULT_SETTINGS_PATH = "/etc/vipd/vipd.yaml";
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

export interface Settings {
  nodeName: string;
  labels: Record<string, string>;
  manifests: string[];
  stateDir: string;
  cluster: {
    bind: string;
    advertise: string | null;
    join: string[];
    keyFile: string | null;
    /** Plaintext gossip without a key; must be explicit. */
    insecure: boolean;
    /** Bound into every gossip packet; clusters with different labels never merge. */
    label: string;
    /** Gossip timing profile. */
    profile: "lan" | "wan";
    /**
     * A member silent this long is declared failed (heartbeats every 1/6 of it); null = the profile's own,
     * lan 150 ms, wan 3000 ms. keepalived's advert_int × 3, in one number.
     */
    failureTimeoutMs: number | null;
    /** false = non-revertive: an IP stays with its owner while that owner is alive and eligible. */
    failback: boolean;
    /** "majority": hold VIPs only while this node sees a strict majority of `expect` members. */
    quorum: "none" | "majority";
    /** Expected cluster size for the quorum; null = the join list plus this node. */
    expect: number | null;
    /**
     * RFC 5227 probe before taking an IPv4 VIP that no member held: how long to listen for a device that
     * already answers for it (ms); 0 = no probe.
     */
    arpProbeMs: number;
    /** How often an IP held by a foreign device is probed again, to take it once the device is gone (ms). */
    conflictReprobeMs: number;
  };
  metrics: { listen: string };
  /** The least severe log lines written (journald can still filter further). */
  log: { level: "debug" | "info" | "warn" | "error" };
}

export interface SettingsFlags {
  config?: string;
  nodeName?: string;
  bind?: string;
  join?: string[];
  metricsListen?: string;
  manifests?: string[];
  logLevel?: string;
}

/** How a value is checked and normalised. Paths resolve against the settings file's folder. */
export type SettingKind =
  | { readonly type: "name" }
  | { readonly type: "string" }
  | { readonly type: "labels" }
  | { readonly type: "path" }
  | { readonly type: "pathList" }
  | { readonly type: "listen" }
  | { readonly type: "peer" }
  | { readonly type: "peerList" }
  | { readonly type: "advertise" }
  | { readonly type: "bool" }
  | { readonly type: "int"; readonly min: number; readonly max: number }
  | { readonly type: "enum"; readonly values: readonly string[] };

type Value = string | number | boolean | null | string[] | Record<string, string>;

export interface SettingRow {
  /** Dotted path in the file and in `Settings`. */
  readonly key: string;
  readonly kind: SettingKind;
  /** Whether `null` is a legal value (it is then also the "unset" value). */
  readonly nullable?: boolean;
  readonly default: (hostname: string) => Value;
  /** The flag that overrides it, if any. */
  readonly flag?: { readonly name: string; readonly field: keyof Omit<SettingsFlags, "config"> };
}

export const SETTINGS: readonly SettingRow[] = [
  {
    key: "nodeName",
    kind: { type: "name" },
    default: (h) => h,
    flag: { name: "--node-name", field: "nodeName" },
  },
  { key: "labels", kind: { type: "labels" }, default: () => ({}) },
  {
    key: "manifests",
    kind: { type: "pathList" },
    default: () => ["/etc/vipd/pools.yaml"],
    flag: { name: "--manifest", field: "manifests" },
  },
  { key: "stateDir", kind: { type: "path" }, default: () => "/var/lib/vipd" },
  {
    key: "cluster.bind",
    kind: { type: "listen" },
    default: () => "0.0.0.0:7946",
    flag: { name: "--bind", field: "bind" },
  },
  { key: "cluster.advertise", kind: { type: "advertise" }, nullable: true, default: () => null },
  {
    key: "cluster.join",
    kind: { type: "peerList" },
    default: () => [],
    flag: { name: "--join", field: "join" },
  },
  { key: "cluster.keyFile", kind: { type: "path" }, nullable: true, default: () => null },
  { key: "cluster.insecure", kind: { type: "bool" }, default: () => false },
  { key: "cluster.label", kind: { type: "name" }, default: () => "vipd" },
  { key: "cluster.profile", kind: { type: "enum", values: ["lan", "wan"] }, default: () => "lan" },
  {
    key: "cluster.failureTimeoutMs",
    kind: { type: "int", min: FAILURE_TIMEOUT_MIN_MS, max: FAILURE_TIMEOUT_MAX_MS },
    nullable: true,
    default: () => null,
  },
  { key: "cluster.failback", kind: { type: "bool" }, default: () => true },
  { key: "cluster.quorum", kind: { type: "enum", values: ["none", "majority"] }, default: () => "none" },
  {
    key: "cluster.expect",
    kind: { type: "int", min: 1, max: 10_000 },
    nullable: true,
    default: () => null,
  },
  { key: "cluster.arpProbeMs", kind: { type: "int", min: 0, max: 5000 }, default: () => 100 },
  {
    key: "cluster.conflictReprobeMs",
    kind: { type: "int", min: 500, max: 3_600_000 },
    default: () => 10_000,
  },
  {
    key: "log.level",
    kind: { type: "enum", values: ["debug", "info", "warn", "error"] },
    default: () => "info",
    flag: { name: "--log-level", field: "logLevel" },
  },
  {
    key: "metrics.listen",
    kind: { type: "listen" },
    default: () => "127.0.0.1:7472",
    flag: { name: "--metrics-listen", field: "metricsListen" },
  },
];

export function parseSettings(
  text: string | undefined,
  file: string,
  flags: SettingsFlags,
  hostname: string,
): SettingsResult {
  const diagnostics: Diagnostic[] = [];
  const values = new Map<string, Value>(SETTINGS.map((row) => [row.key, row.default(hostname)]));
  const sources = new Map<string, SourceRef>();
  if (text !== undefined) readFile(text, file, values, diagnostics, sources);

  for (const row of SETTINGS) {
    if (!row.flag) continue;
    const raw = flags[row.flag.field];
    if (raw === undefined) continue;
    // `--join a,b --join c` is three peers.
    const given =
      row.kind.type === "peerList" && Array.isArray(raw)
        ? raw
            .flatMap((j) => j.split(","))
            .map((j) => j.trim())
            .filter((j) => j !== "")
        : raw;
    const checked = checkValue(row, given, undefined);
    if ("error" in checked) diagnostics.push(diagnostic("error", `${row.flag.name}: ${checked.error}`));
    else values.set(row.key, checked.value);
  }

  const settings = assemble(values);
  const advertise = settings.cluster.advertise;
  if (advertise !== null && parseIp(advertise)) {
    const port = settings.cluster.bind.slice(settings.cluster.bind.lastIndexOf(":") + 1);
    settings.cluster.advertise = advertise.includes(":") ? `[${advertise}]:${port}` : `${advertise}:${port}`;
  }
  // The hostname label is always present; the node's own name wins over a hand-written value.
  const written = settings.labels[HOSTNAME_LABEL];
  if (written !== undefined && written !== settings.nodeName) {
    diagnostics.push(
      diagnostic(
        "warning",
        `labels.${HOSTNAME_LABEL} is always the node name; ${JSON.stringify(written)} replaced by ${JSON.stringify(settings.nodeName)}`,
        { file, line: 1, column: 1 },
      ),
    );
  }
  settings.labels = { ...settings.labels, [HOSTNAME_LABEL]: settings.nodeName };
  const nameProblem = labelValueProblem(settings.nodeName);
  if (nameProblem) {
    diagnostics.push(
      diagnostic(
        "error",
        `nodeName ${JSON.stringify(settings.nodeName)} cannot be the ${HOSTNAME_LABEL} label: ${nameProblem}`,
      ),
    );
  }
  return hasErrors(diagnostics) ? { diagnostics, sources } : { settings, diagnostics, sources };
}

export interface SettingsResult {
  settings?: Settings;
  diagnostics: Diagnostic[];
  /** Where each key given in the file was written (dotted key), for errors found later (cluster.keyFile). */
  sources?: ReadonlyMap<string, SourceRef>;
}

export function loadSettings(flags: SettingsFlags): SettingsResult {
  const file = flags.config ?? DEFAULT_SETTINGS_PATH;
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const missing = err instanceof Error && "code" in err && err.code === "ENOENT";
    // Without --config, a missing file simply means "all defaults"; a file asked for by name must exist.
    if (!(missing && flags.config === undefined)) {
      const code = err instanceof Error && "code" in err ? err.code : undefined;
      const reason = missing
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory (--config takes the settings file, such as /etc/vipd/vipd.yaml; the manifests " +
            "it loads are listed under its `manifests:` key, or given with --manifest)"
          : err instanceof Error
            ? err.message
            : String(err);
      return { diagnostics: [diagnostic("error", `cannot read settings file ${file}: ${reason}`)] };
    }
  }
  return parseSettings(text, file, flags, osHostname());
}

function readFile(
  text: string,
  file: string,
  values: Map<string, Value>,
  diagnostics: Diagnostic[],
  sources: Map<string, SourceRef>,
): void {
  const lines = new LineCounter();
  const at = (node: Node | null | undefined, offset = 0): SourceRef => {
    const { line, col } = lines.linePos(node?.range?.[0] ?? offset);
    return { file, line, column: col };
  };
  if (text.includes("\u0000")) {
    diagnostics.push(
      diagnostic(
        "error",
        "file contains NUL bytes: this is not a YAML text file",
        at(null, text.indexOf("\u0000")),
      ),
    );
    return;
  }
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      diagnostics.push(
        diagnostic(
          "error",
          `YAML syntax error: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`,
          at(null, e.pos[0]),
        ),
      );
    }
    return;
  }
  const walk = (node: unknown, prefix: string): void => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return;
    const where = prefix === "" ? "the settings file" : prefix;
    if (!isMap(node)) {
      diagnostics.push(diagnostic("error", `${where}: expected a mapping`, at(node as Node)));
      return;
    }
    const children = childKeys(prefix);
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : "";
      const full = prefix === "" ? key : `${prefix}.${key}`;
      if (!children.includes(key)) {
        const candidates = children.map((c) => (prefix === "" ? c : `${prefix}.${c}`));
        diagnostics.push(diagnostic("error", unknownKeyMessage("setting", full, candidates), at(keyNode)));
        continue;
      }
      const row = SETTINGS.find((r) => r.key === full);
      if (!row) {
        walk(pair.value, full);
        continue;
      }
      const valueNode = pair.value as Node | null;
      let plain: unknown;
      try {
        plain = valueNode === null ? null : valueNode.toJS(doc, { maxAliasCount: 100 });
      } catch (err) {
        diagnostics.push(
          diagnostic(
            "error",
            `${full}: ${err instanceof Error ? err.message : String(err)}`,
            at(valueNode ?? keyNode),
          ),
        );
        continue;
      }
      if (plain === null && !row.nullable) continue; // `key:` with no value keeps the default
      const checked = checkValue(row, plain, dirname(file));
      if ("error" in checked) {
        const inner =
          "index" in checked && isSeq(valueNode) ? (valueNode.items[checked.index ?? 0] as Node) : valueNode;
        diagnostics.push(diagnostic("error", `${full}: ${checked.error}`, at(inner ?? keyNode)));
      } else {
        values.set(row.key, checked.value);
        sources.set(row.key, at(keyNode));
      }
    }
  };
  walk(doc.contents, "");
}

/** The keys allowed directly under a section: the next path segment of every row below it. */
function childKeys(prefix: string): string[] {
  const out = new Set<string>();
  for (const row of SETTINGS) {
    if (prefix !== "" && !row.key.startsWith(`${prefix}.`)) continue;
    const rest = prefix === "" ? row.key : row.key.slice(prefix.length + 1);
    out.add(rest.split(".")[0]);
  }
  return [...out];
}

function assemble(values: ReadonlyMap<string, Value>): Settings {
  const root: Record<string, unknown> = {};
  for (const [key, value] of values) {
    const parts = key.split(".");
    let target = root;
    for (const part of parts.slice(0, -1)) {
      target[part] ??= {};
      target = target[part] as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = value;
  }
  return root as unknown as Settings;
}

type Checked = { value: Value } | { error: string; index?: number };

const describePlain = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "a list"
      : typeof v === "object"
        ? "a mapping"
        : `${typeof v} ${JSON.stringify(v)}`;

/** Checks one value of a row. `baseDir` is the settings file's folder (undefined for flags: relative to cwd). */
export function checkValue(row: SettingRow, value: unknown, baseDir: string | undefined): Checked {
  if (value === null) return row.nullable ? { value: null } : { error: "must not be null" };
  const resolvePath = (p: string): string => (baseDir === undefined || isAbsolute(p) ? p : join(baseDir, p));
  const kind = row.kind;
  switch (kind.type) {
    case "name":
    case "string":
      if (typeof value !== "string") return { error: `expected a string, got ${describePlain(value)}` };
      if (kind.type === "name" && (value === "" || /\s/.test(value)))
        return { error: "must be a non-empty name without spaces" };
      return { value };
    case "path":
      if (typeof value !== "string" || value === "")
        return { error: `expected a path, got ${describePlain(value)}` };
      return { value: resolvePath(value) };
    case "pathList": {
      if (!Array.isArray(value)) return { error: `expected a list of paths, got ${describePlain(value)}` };
      const bad = value.findIndex((p) => typeof p !== "string" || p === "");
      if (bad >= 0)
        return { error: `[${bad}]: expected a path, got ${describePlain(value[bad])}`, index: bad };
      return { value: (value as string[]).map(resolvePath) };
    }
    case "labels": {
      if (typeof value !== "object" || Array.isArray(value))
        return { error: `expected a mapping of label to value, got ${describePlain(value)}` };
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") return { error: `${k}: expected a string, got ${describePlain(v)}` };
        const problem = labelKeyProblem(k) ?? labelValueProblem(v);
        if (problem) return { error: problem };
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return { value: out };
    }
    case "listen":
    case "peer": {
      if (typeof value !== "string") return { error: `expected host:port, got ${describePlain(value)}` };
      const parsed = parseHostPort(value, kind.type === "listen");
      return "error" in parsed ? parsed : { value: parsed.value };
    }
    case "peerList": {
      if (!Array.isArray(value))
        return { error: `expected a list of host:port, got ${describePlain(value)}` };
      const out: string[] = [];
      for (const [i, item] of value.entries()) {
        if (typeof item !== "string")
          return { error: `[${i}]: expected host:port, got ${describePlain(item)}`, index: i };
        const parsed = parseHostPort(item, false);
        if ("error" in parsed) return { error: `[${i}]: ${parsed.error}`, index: i };
        out.push(parsed.value);
      }
      return { value: out };
    }
    case "advertise": {
      // An IP alone takes the bind port, filled in once flags have been applied.
      if (typeof value !== "string")
        return { error: `expected an IP or IP:port, got ${describePlain(value)}` };
      const ip = canonicalIp(value);
      if (ip !== undefined) return { value: ip };
      const parsed = parseHostPort(value, true);
      if ("error" in parsed) return parsed;
      if (parsed.host === "0.0.0.0" || parsed.host === "::" || parsed.port === 0) {
        return { error: `${JSON.stringify(value)}: peers cannot reach an unspecified address or port 0` };
      }
      return { value: parsed.value };
    }
    case "bool":
      return typeof value === "boolean"
        ? { value }
        : { error: `expected true or false, got ${describePlain(value)}` };
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value))
        return { error: `expected an integer, got ${describePlain(value)}` };
      if (value < kind.min || value > kind.max)
        return { error: `${value} is out of range ${kind.min}..${kind.max}` };
      return { value };
    case "enum":
      if (typeof value !== "string" || !kind.values.includes(value)) {
        return { error: `expected one of ${kind.values.join(", ")}, got ${describePlain(value)}` };
      }
      return { value };
  }
}
