// Per-member metadata: labels, a digest of the member's manifests, and its eligibility (the VIPs it can
// serve now, and why not for the others). Versioned by the member's incarnation: a change bumps it and is
// gossiped as an alive message carrying an 8-byte digest. Small records ride inline in that message; big
// ones (thousands of VIPs) are fetched by digest in chunks from the member, so gossip stays small.
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { AllocationEntry } from "../alloc/agreement";

export interface Ineligible {
  readonly vip: string;
  readonly reason: string;
}

export interface MemberMetadata {
  readonly labels: Readonly<Record<string, string>>;
  readonly manifestDigest: string;
  readonly eligibility: {
    readonly eligible: readonly string[];
    readonly ineligible: readonly Ineligible[];
    /** ip -> the interface the member would announce it on, for `vipd status` on every node. */
    readonly interfaces?: Readonly<Record<string, string>>;
  };
  /** The member's allocation table, so members with different histories converge on one. */
  readonly allocation?: {
    readonly digest: string;
    readonly entries: readonly AllocationEntry[];
  };
  /**
   * The IPs (election IPs of their groups) the member holds now, so a (re)joining node learns the current
   * owners: non-revertive mode keeps them, and after a partition heals every node sees the double claims.
   */
  readonly owned?: readonly string[];
  /**
   * The MACs of the member's interfaces, so an ARP claim on a VIP can be told apart: a member (resolved by
   * the election) or a foreign device (an address conflict).
   */
  readonly macs?: readonly string[];
  /**
   * Election IPs the member let go of recently: a node that takes one over knows it is a handover from a
   * member (no conflict probe), even when it never saw the member's claim.
   */
  readonly released?: readonly string[];
}

export const EMPTY_METADATA: MemberMetadata = Object.freeze({
  labels: {},
  manifestDigest: "",
  eligibility: { eligible: [], ineligible: [] },
});

const FORMAT = 1;

/** Compact, deterministic encoding: JSON of a sorted tuple, raw-deflated (IP lists compress well). */
export function encodeMetadata(m: MemberMetadata): Buffer {
  const labels = Object.keys(m.labels)
    .sort()
    .map((k) => [k, m.labels[k]]);
  const tuple = [
    FORMAT,
    labels,
    m.manifestDigest,
    [...m.eligibility.eligible],
    m.eligibility.ineligible.map((x) => [x.vip, x.reason]),
    ...(m.eligibility.interfaces || m.allocation || m.owned || m.macs || m.released
      ? [
          m.eligibility.interfaces
            ? Object.keys(m.eligibility.interfaces)
                .sort()
                .map((ip) => [ip, m.eligibility.interfaces?.[ip] ?? ""])
            : null,
          m.allocation
            ? [m.allocation.digest, m.allocation.entries.map((e) => [e.service, [...e.ips], e.pool, e.since])]
            : null,
        ]
      : []),
    ...(m.owned || m.macs || m.released ? [m.owned ? [...m.owned] : null] : []),
    ...(m.macs || m.released ? [m.macs ? [...m.macs] : null] : []),
    ...(m.released ? [[...m.released]] : []),
  ];
  return deflateRawSync(Buffer.from(JSON.stringify(tuple)));
}

export class MetadataError extends Error {}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

/** Decodes and validates; throws MetadataError on anything unexpected. */
export function decodeMetadata(b: Buffer, maxInflated = 64 * 1024 * 1024): MemberMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(inflateRawSync(b, { maxOutputLength: maxInflated }).toString("utf8"));
  } catch (e) {
    throw new MetadataError(`metadata: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw) || ![5, 7, 8, 9, 10].includes(raw.length) || raw[0] !== FORMAT)
    throw new MetadataError("metadata: bad format");
  const [
    ,
    labels,
    manifestDigest,
    eligible,
    ineligible,
    interfaces = null,
    allocation = null,
    owned = null,
    macs = null,
    released = null,
  ] = raw as unknown[];
  if (owned !== null && !isStringArray(owned)) throw new MetadataError("metadata: bad owned");
  if (macs !== null && !isStringArray(macs)) throw new MetadataError("metadata: bad macs");
  if (released !== null && !isStringArray(released)) throw new MetadataError("metadata: bad released");
  if (!Array.isArray(labels) || !labels.every((p) => isStringArray(p) && p.length === 2))
    throw new MetadataError("metadata: bad labels");
  if (typeof manifestDigest !== "string" || !isStringArray(eligible))
    throw new MetadataError("metadata: bad fields");
  if (!Array.isArray(ineligible) || !ineligible.every((p) => isStringArray(p) && p.length === 2))
    throw new MetadataError("metadata: bad ineligible");
  if (
    interfaces !== null &&
    (!Array.isArray(interfaces) || !interfaces.every((p) => isStringArray(p) && p.length === 2))
  )
    throw new MetadataError("metadata: bad interfaces");
  const entries = decodeAllocation(allocation);
  return {
    labels: Object.fromEntries(labels as [string, string][]),
    manifestDigest,
    eligibility: {
      eligible,
      ineligible: (ineligible as [string, string][]).map(([vip, reason]) => ({ vip, reason })),
      ...(interfaces !== null ? { interfaces: Object.fromEntries(interfaces as [string, string][]) } : {}),
    },
    ...(entries ? { allocation: entries } : {}),
    ...(owned !== null ? { owned } : {}),
    ...(macs !== null ? { macs } : {}),
    ...(released !== null ? { released } : {}),
  };
}

function decodeAllocation(raw: unknown): MemberMetadata["allocation"] {
  if (raw === null) return undefined;
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== "string" || !Array.isArray(raw[1]))
    throw new MetadataError("metadata: bad allocation");
  const entries = (raw[1] as unknown[]).map((e): AllocationEntry => {
    if (
      !Array.isArray(e) ||
      e.length !== 4 ||
      typeof e[0] !== "string" ||
      !isStringArray(e[1]) ||
      typeof e[2] !== "string" ||
      typeof e[3] !== "number"
    )
      throw new MetadataError("metadata: bad allocation entry");
    return { service: e[0], ips: e[1], pool: e[2], since: e[3] };
  });
  return { digest: raw[0], entries };
}

/** First 8 bytes of SHA-256 of the encoded record, as 16 hex chars. */
export function metadataDigest(encoded: Buffer): string {
  return createHash("sha256").update(encoded).digest("hex").slice(0, 16);
}
