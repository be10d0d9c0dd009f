// Per-member metadata: labels, a digest of the member's manifests, and its eligibility (the VIPs it can
// serve now, and why not for the others). Versioned by the member's incarnation: a change bumps it and is
// gossiped as an alive message carrying an 8-byte digest. Small records ride inline in that message; big
// ones (thousands of VIPs) are fetched by digest in chunks from the member, so gossip stays small.
import { createHash } from "node:crypto";
import { constants, deflateRaw, deflateRawSync, inflateRawSync, type ZlibOptions } from "node:zlib";
import type { AllocationEntry } from "../alloc/agreement";
import { sameList, sameRecord } from "../plan/compare";
import { METADATA_RANGE, type MemberVersions, type Speaks } from "./version";

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

/**
 * The label that carries a member's version vector in a format-1 record: format 1 is what vipd 0.1.0 reads,
 * and labels are the one part of it that takes (and relays) anything new. Reserved: stripped when decoding,
 * never set from a node's configured labels. 0.1.0 nodes see it as a label like any other.
 */
export const VERSION_LABEL = "vipd.io/version";

/**
 * Optional fields of a format-2 record (slot 10): decoders ignore keys they do not know, so adding one needs
 * no version bump. To add a field: give it a short key here, write it in encodeMetadata's format-2 branch
 * only (format 1 is frozen: 0.1.0 rejects a record with more than 10 positions), read it in decodeRecord
 * leniently (absent or malformed = not sent), and add it to MemberMetadata as optional. A member still on
 * format 1 (a 0.1.0 member is live) does not send it, so readers must cope with its absence.
 */
interface Extensions {
  /** The version vector: [build, protocol min, max, current, metadata min, max, current]. */
  v?: [string, number, number, number, number, number, number];
}

export interface EncodeOptions {
  /** The metadata format to write: 1 (vipd 0.1.0's, the default) or 2. */
  readonly format?: number;
  /** The version vector to advertise with the record. */
  readonly versions?: MemberVersions;
}

/**
 * Compact, deterministic encoding: JSON of a sorted tuple, raw-deflated (IP lists compress well). Format 1
 * without versions gives exactly the bytes vipd 0.1.0 writes.
 */
export function encodeMetadata(m: MemberMetadata, options: EncodeOptions = {}): Buffer {
  return deflateRecord(recordJson(m, options));
}

/**
 * encodeMetadata's bytes, handed to `done`: at once for a record up to FAST_DEFLATE_BYTES of JSON, else
 * deflated on libuv's thread pool, off the calling thread (the same bytes: the same zlib, level and input).
 * A 10,000-VIP record is re-encoded right after each reload and takeover: its deflate was ~45 ms of a
 * profiled main thread there, in the step that elects the new VIP, ahead of its probe's verdict.
 */
export function encodeMetadataThen(
  m: MemberMetadata,
  options: EncodeOptions,
  done: (encoded: Buffer) => void,
): void {
  const bytes = recordJson(m, options);
  if (bytes.length <= FAST_DEFLATE_BYTES) {
    done(deflateRecord(bytes));
    return;
  }
  deflateRaw(bytes, deflateOptions(bytes), (error, encoded) => done(error ? deflateRecord(bytes) : encoded));
}

/** The record's JSON: the tuple of its format. */
function recordJson(m: MemberMetadata, options: EncodeOptions): Buffer {
  const format = options.format ?? 1;
  // Formats past 2 keep format 2's layout here (a test plays a future release with them).
  if (!Number.isInteger(format) || format < 1)
    throw new MetadataError(`metadata: cannot write format ${format}`);
  const versions = options.versions;
  const labelEntries = Object.keys(m.labels)
    .filter((k) => k !== VERSION_LABEL)
    .map((k): [string, string] => [k, m.labels[k] ?? ""]);
  if (versions && format === 1) labelEntries.push([VERSION_LABEL, versionLabelValue(versions)]);
  const labels = labelEntries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (format >= 2) {
    const ext: Extensions = versions ? { v: versionTuple(versions) } : {};
    return tupleJson([
      format,
      labels,
      m.manifestDigest,
      [...m.eligibility.eligible],
      m.eligibility.ineligible.map((x) => [x.vip, x.reason]),
      interfacesTuple(m),
      allocationJson(m),
      m.owned ? [...m.owned] : null,
      m.macs ? [...m.macs] : null,
      m.released ? [...m.released] : null,
      ext,
    ]);
  }
  const tuple = [
    1,
    labels,
    m.manifestDigest,
    [...m.eligibility.eligible],
    m.eligibility.ineligible.map((x) => [x.vip, x.reason]),
    ...(m.eligibility.interfaces || m.allocation || m.owned || m.macs || m.released
      ? [interfacesTuple(m), allocationJson(m)]
      : []),
    ...(m.owned || m.macs || m.released ? [m.owned ? [...m.owned] : null] : []),
    ...(m.macs || m.released ? [m.macs ? [...m.macs] : null] : []),
    ...(m.released ? [[...m.released]] : []),
  ];
  return tupleJson(tuple);
}

/** A part of a record that is JSON text already (see allocationJson). */
class JsonText {
  constructor(readonly text: string) {}
}

/** The record's JSON, as JSON.stringify(tuple) would write it with each JsonText's value in place. */
function tupleJson(tuple: unknown[]): Buffer {
  return Buffer.from(
    `[${tuple.map((part) => (part instanceof JsonText ? part.text : JSON.stringify(part))).join(",")}]`,
  );
}

function deflateRecord(bytes: Buffer): Buffer {
  return deflateRawSync(bytes, deflateOptions(bytes));
}

/** Level 1 past FAST_DEFLATE_BYTES, zlib's default below. */
function deflateOptions(bytes: Buffer): ZlibOptions {
  return bytes.length > FAST_DEFLATE_BYTES ? { level: constants.Z_BEST_SPEED } : {};
}

/**
 * Records larger than this are deflated at level 1, not zlib's default 6: a 10,000-VIP record (~1 MB of
 * JSON) took 10.9 ms at level 6 and 2.8 ms at level 1 for 11 % more bytes (114 -> 127 KB), and it is
 * re-encoded right after every reload and takeover, on the main thread that is about to take the VIPs.
 * Readers inflate either alike; smaller records keep the default level (and 0.1.0's exact bytes).
 */
export const FAST_DEFLATE_BYTES = 256 * 1024;

function interfacesTuple(m: MemberMetadata): [string, string][] | null {
  const interfaces = m.eligibility.interfaces;
  return interfaces
    ? Object.keys(interfaces)
        .sort()
        .map((ip) => [ip, interfaces[ip] ?? ""])
    : null;
}

/**
 * The allocation table's JSON text, kept per table (its entries are immutable): the table changes with the
 * config, but the record goes out again with every change of the held list or eligibility, and at 10,000
 * services building and writing the table's 10,000 tuples was most of each encoding (~120 ms of a reload's
 * main thread, profiled).
 */
const allocationTexts = new WeakMap<
  readonly AllocationEntry[],
  { readonly digest: string; readonly text: JsonText }
>();

function allocationJson(m: MemberMetadata): JsonText | null {
  const allocation = m.allocation;
  if (!allocation) return null;
  const known = allocationTexts.get(allocation.entries);
  if (known?.digest === allocation.digest) return known.text;
  const entries = allocation.entries.map(entryJson).join(",");
  const text = new JsonText(`[${JSON.stringify(allocation.digest)},[${entries}]]`);
  allocationTexts.set(allocation.entries, { digest: allocation.digest, text });
  return text;
}

/**
 * An entry's JSON text, kept per entry object: a reload's new table reuses every entry it did not change
 * (entriesFor), and writing all 10,000 afresh for the one added was ~100 ms of a profiled reload's main
 * thread, between the load and the probe's verdict on the new VIP.
 */
const entryTexts = new WeakMap<AllocationEntry, string>();

function entryJson(e: AllocationEntry): string {
  let text = entryTexts.get(e);
  if (text === undefined) {
    text = JSON.stringify([e.service, e.ips, e.pool, e.since]);
    entryTexts.set(e, text);
  }
  return text;
}

function versionTuple(v: MemberVersions): NonNullable<Extensions["v"]> {
  const p = v.protocol;
  const d = v.metadata;
  return [v.build, p.min, p.max, p.current, d.min, d.max, d.current];
}

/** "0.2.0;1.2.1;1.2.1": build, then protocol and metadata min.max.current. */
function versionLabelValue(v: MemberVersions): string {
  const p = v.protocol;
  const d = v.metadata;
  return `${v.build};${p.min}.${p.max}.${p.current};${d.min}.${d.max}.${d.current}`;
}

function parseVersionLabel(value: string): MemberVersions | undefined {
  const m = /^([^;]{1,64});(\d+)\.(\d+)\.(\d+);(\d+)\.(\d+)\.(\d+)$/.exec(value);
  if (!m) return undefined;
  const n = m.slice(2).map(Number);
  return versionsFrom([m[1] ?? "", ...n]);
}

function versionsFrom(raw: unknown): MemberVersions | undefined {
  if (!Array.isArray(raw) || raw.length < 7 || typeof raw[0] !== "string") return undefined;
  const n = raw.slice(1, 7) as unknown[];
  if (!n.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0)) return undefined;
  const [pmin, pmax, pcur, dmin, dmax, dcur] = n as number[];
  const speaks = (min: number, max: number, current: number): Speaks | undefined =>
    min <= max ? { min, max, current } : undefined;
  const protocol = speaks(pmin ?? 0, pmax ?? 0, pcur ?? 0);
  const metadata = speaks(dmin ?? 0, dmax ?? 0, dcur ?? 0);
  return protocol && metadata ? { build: raw[0].slice(0, 64), protocol, metadata } : undefined;
}

export class MetadataError extends Error {}

/** A record in a format this build cannot read; `versions` when the sender's vector could still be read. */
export class MetadataFormatError extends MetadataError {
  constructor(
    readonly format: number,
    readonly versions: MemberVersions | undefined,
  ) {
    super(
      `metadata: format ${format} is not one this node reads (${METADATA_RANGE.min}..${METADATA_RANGE.max})`,
    );
  }
}

export interface DecodedRecord {
  readonly metadata: MemberMetadata;
  /** What the member advertised; undefined for a record without a vector (vipd 0.1.0). */
  readonly versions: MemberVersions | undefined;
  readonly format: number;
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

/** Decodes and validates; throws MetadataError on anything unexpected. */
export function decodeMetadata(b: Buffer, maxInflated = 64 * 1024 * 1024): MemberMetadata {
  return decodeRecord(b, maxInflated).metadata;
}

/**
 * Decodes a record of any format this build reads, with the member's version vector. Lenient where the
 * format allows growth: positions after the known ones and unknown keys of the extension object are ignored.
 * @throws MetadataFormatError for a format outside METADATA_RANGE, MetadataError for anything malformed.
 */
export function decodeRecord(
  b: Buffer,
  maxInflated = 64 * 1024 * 1024,
  /** The member's previous record: its eligibility (sameEligibility) and allocation (same digest) are kept
   *  as the same objects when unchanged. */
  previous?: MemberMetadata,
  /** This node's own record: what the member's record repeats of it becomes its very objects (shareWith). */
  own?: MemberMetadata,
): DecodedRecord {
  const { raw, format, ext } = readTop(b, maxInflated);
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
  // Kept from the previous record when the digest is unchanged, unless ours now has that digest and the kept
  // one is not ours: then decoding shares our entries (the digest leaves out `since`, which agreement settles
  // later than the IPs).
  const sameAllocation =
    previous?.allocation !== undefined &&
    Array.isArray(allocation) &&
    allocation[0] === previous.allocation.digest &&
    (previous.allocation === own?.allocation || own?.allocation?.digest !== allocation[0]);
  const entries = sameAllocation ? previous.allocation : decodeAllocation(allocation, own?.allocation);
  const labelPairs = labels as [string, string][];
  const versions = recordVersions(format, ext, labelPairs);
  const metadata: MemberMetadata = {
    labels: Object.fromEntries(labelPairs.filter(([k]) => k !== VERSION_LABEL)),
    manifestDigest,
    eligibility:
      previous !== undefined &&
      sameEligibility(previous.eligibility, eligible, ineligible as [string, string][], interfaces)
        ? previous.eligibility
        : {
            eligible: shareList(eligible, own?.eligibility.eligible),
            ineligible: decodeIneligible(ineligible as [string, string][], own?.eligibility),
            ...(interfaces !== null
              ? {
                  interfaces: sharedInterfaces(interfaces as [string, string][], own?.eligibility.interfaces),
                }
              : {}),
          },
    ...(entries ? { allocation: entries } : {}),
    ...(owned !== null ? { owned } : {}),
    ...(macs !== null ? { macs } : {}),
    ...(released !== null ? { released } : {}),
  };
  return { metadata, versions, format };
}

/**
 * Whether a record's eligibility lists equal `prev`'s. Most new records of a 10,000-VIP member change only
 * its held list: keeping the eligibility object saves rebuilding it here (an IP-keyed object of 10,000
 * entries) and in the planner, which caches its per-IP view of a member by that object.
 */
function sameEligibility(
  prev: MemberMetadata["eligibility"],
  eligible: readonly string[],
  ineligible: readonly [string, string][],
  interfaces: unknown,
): boolean {
  if (prev.eligible.length !== eligible.length || prev.ineligible.length !== ineligible.length) return false;
  for (let i = 0; i < eligible.length; i++) if (prev.eligible[i] !== eligible[i]) return false;
  for (let i = 0; i < ineligible.length; i++) {
    const x = prev.ineligible[i];
    const y = ineligible[i];
    if (x?.vip !== y?.[0] || x?.reason !== y?.[1]) return false;
  }
  const prevInterfaces = prev.interfaces;
  if (interfaces === null || prevInterfaces === undefined)
    return interfaces === null && prevInterfaces === undefined;
  const pairs = interfaces as [string, string][];
  if (pairs.length !== Object.keys(prevInterfaces).length) return false;
  for (const [ip, name] of pairs) if (prevInterfaces[ip] !== name) return false;
  return true;
}

/**
 * The format and version vector of a record, without building the record: what the gossip thread needs to
 * negotiate. At 10,000 VIPs decodeRecord takes ~25 ms and JSON.parse alone puts ~1.3 MB of strings and
 * arrays in the thread's small heap; this scans the inflated bytes for the top-level positions and parses
 * only slots 0 (format), 1 (labels: format 1's vector) and 10 (format 2's). The daemon decodes, and checks,
 * the whole record on its own thread (a record malformed past these slots is refused there).
 * @throws MetadataFormatError and MetadataError as decodeRecord does for the format and these slots.
 */
export function readRecordVersions(
  b: Buffer,
  maxInflated = 64 * 1024 * 1024,
): Omit<DecodedRecord, "metadata"> {
  let bytes: Buffer;
  try {
    bytes = inflateRawSync(b, { maxOutputLength: maxInflated });
  } catch (e) {
    throw new MetadataError(`metadata: ${(e as Error).message}`);
  }
  const slots = topLevelSlots(bytes);
  const slot = (i: number): unknown => {
    const range = slots[i];
    if (range === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString("utf8", range[0], range[1])) as unknown;
    } catch (e) {
      throw new MetadataError(`metadata: ${(e as Error).message}`);
    }
  };
  const format = slot(0);
  if (slots.length < 5 || typeof format !== "number" || !Number.isInteger(format))
    throw new MetadataError("metadata: bad format");
  const ext = checkFormat(format, slot(10));
  const labels = slot(1);
  if (!Array.isArray(labels) || !labels.every((p) => isStringArray(p) && p.length === 2))
    throw new MetadataError("metadata: bad labels");
  return { versions: recordVersions(format, ext, labels as [string, string][]), format };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * [start, end) of each element of the JSON array in `bytes`, found by bracket depth without parsing: no
 * strings or arrays are built. Only the nesting is checked (UTF-8 continuation bytes are >= 0x80, never a
 * quote, backslash or bracket, so they need no care).
 */
function topLevelSlots(bytes: Uint8Array): Array<[number, number]> {
  const bad = (): never => {
    throw new MetadataError("metadata: bad format");
  };
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i] as number)) i++;
  if (bytes[i] !== 0x5b) bad();
  const slots: Array<[number, number]> = [];
  let depth = 0;
  let start = -1;
  for (i++; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c === QUOTE) {
      if (start < 0) start = i;
      for (i++; i < bytes.length && bytes[i] !== QUOTE; i++) if (bytes[i] === BACKSLASH) i++;
      if (i >= bytes.length) bad();
    } else if (c === 0x5b || c === 0x7b) {
      if (start < 0) start = i;
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (c !== 0x5d) bad();
      if (start >= 0) slots.push([start, i]);
      else if (slots.length > 0) bad();
      for (i++; i < bytes.length; i++) if (!isSpace(bytes[i] as number)) bad();
      return slots;
    } else if (c === COMMA && depth === 0) {
      if (start < 0) bad();
      slots.push([start, i]);
      start = -1;
    } else if (start < 0 && !isSpace(c)) start = i;
  }
  return bad();
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Format 2's extension object (slot 10), after checking the format is one this build reads. */
function checkFormat(format: number, extRaw: unknown): Extensions {
  const ext = (
    typeof extRaw === "object" && extRaw !== null && !Array.isArray(extRaw) ? extRaw : {}
  ) as Extensions;
  if (format < METADATA_RANGE.min || format > METADATA_RANGE.max)
    throw new MetadataFormatError(format, format >= 2 ? versionsFrom(ext.v) : undefined);
  return ext;
}

/** Inflates and parses a record, and checks its format is one this build reads. */
function readTop(b: Buffer, maxInflated: number): { raw: unknown[]; format: number; ext: Extensions } {
  let raw: unknown;
  try {
    raw = JSON.parse(inflateRawSync(b, { maxOutputLength: maxInflated }).toString("utf8"));
  } catch (e) {
    throw new MetadataError(`metadata: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length < 5 || typeof raw[0] !== "number" || !Number.isInteger(raw[0]))
    throw new MetadataError("metadata: bad format");
  const format = raw[0];
  return { raw: raw as unknown[], format, ext: checkFormat(format, raw[10]) };
}

/** The vector a record advertises: format 2's extension, or format 1's reserved label. */
function recordVersions(
  format: number,
  ext: Extensions,
  labels: readonly (readonly [string, string])[],
): MemberVersions | undefined {
  if (format >= 2) return versionsFrom(ext.v);
  const versionLabel = labels.find(([k]) => k === VERSION_LABEL)?.[1];
  return versionLabel ? parseVersionLabel(versionLabel) : undefined;
}

// Sharing with this node's own record. Members that run the same manifests gossip the same allocation table
// and (mostly) the same VIP lists, so at 10,000 VIPs every peer's record was a copy of ours: 10,000 entries,
// their IP arrays and strings, and 10,000 IP strings per list, ~4 MB per peer on the main thread. Decoding
// keeps our objects wherever the member's record says the same at the same position: the lists are sorted
// alike on every member, so a positional compare finds the shared part without an index of its own.

/** `own`'s entry at the same position when equal in every field (since included), else a new entry. */
function decodeAllocation(raw: unknown, own?: MemberMetadata["allocation"]): MemberMetadata["allocation"] {
  if (raw === null) return undefined;
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== "string" || !Array.isArray(raw[1]))
    throw new MetadataError("metadata: bad allocation");
  const ownEntries = own?.entries ?? [];
  let allOwn = own !== undefined && raw[0] === own.digest && raw[1].length === ownEntries.length;
  const entries = (raw[1] as unknown[]).map((e, i): AllocationEntry => {
    if (
      !Array.isArray(e) ||
      e.length !== 4 ||
      typeof e[0] !== "string" ||
      !isStringArray(e[1]) ||
      typeof e[2] !== "string" ||
      typeof e[3] !== "number"
    )
      throw new MetadataError("metadata: bad allocation entry");
    const mine = ownEntries[i];
    if (mine !== undefined && mine.service === e[0] && mine.pool === e[2] && sameList(mine.ips, e[1])) {
      if (mine.since === e[3]) return mine;
      allOwn = false;
      return { service: mine.service, ips: mine.ips, pool: mine.pool, since: e[3] };
    }
    allOwn = false;
    return { service: e[0], ips: e[1], pool: e[2], since: e[3] };
  });
  return allOwn && own !== undefined ? own : { digest: raw[0], entries };
}

/**
 * `record` with our allocation table in place of its own when they are equal entry by entry (`since`
 * included): for the records decoded before our table settled (setMetadata calls it when ours changes).
 */
export function shareAllocation(record: MemberMetadata, own: MemberMetadata): MemberMetadata {
  const mine = own.allocation;
  const theirs = record.allocation;
  if (mine === undefined || theirs === undefined || theirs === mine || theirs.digest !== mine.digest)
    return record;
  if (theirs.entries.length !== mine.entries.length) return record;
  for (let i = 0; i < mine.entries.length; i++) {
    const a = mine.entries[i] as AllocationEntry;
    const b = theirs.entries[i] as AllocationEntry;
    if (
      a !== b &&
      (a.service !== b.service || a.pool !== b.pool || a.since !== b.since || !sameList(a.ips, b.ips))
    )
      return record;
  }
  return { ...record, allocation: mine };
}

/** `own` itself when equal; else `list` with each string equal to `own`'s at its position replaced by it. */
function shareList(list: string[], own: readonly string[] | undefined): readonly string[] {
  if (own === undefined) return list;
  let equal = list.length === own.length;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === own[i]) list[i] = own[i] as string;
    else equal = false;
  }
  return equal ? own : list;
}

/**
 * A member's ineligible VIPs. A starting member lists every VIP with one reason: each reason text is kept once
 * per record, and a VIP string is ours where our eligible (or ineligible) list has it at the same position.
 */
function decodeIneligible(
  pairs: readonly [string, string][],
  own?: MemberMetadata["eligibility"],
): Ineligible[] {
  const reasons = new Map<string, string>();
  return pairs.map(([vip, reason], i) => {
    let sharedReason = reasons.get(reason);
    if (sharedReason === undefined) {
      sharedReason = reason;
      reasons.set(reason, reason);
    }
    const ours = own?.eligible[i] === vip ? own.eligible[i] : own?.ineligible[i]?.vip;
    return { vip: ours === vip ? ours : vip, reason: sharedReason };
  });
}

/** `own` itself when the member names the same interface for exactly the same VIPs (an object of 10,000 keys). */
function sharedInterfaces(
  pairs: readonly [string, string][],
  own: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> {
  // Built first (a repeated IP in the record collapses), then compared key by key.
  const theirs: Readonly<Record<string, string>> = Object.fromEntries(pairs);
  return own !== undefined && sameRecord(theirs, own) ? own : theirs;
}

/** First 8 bytes of SHA-256 of the encoded record, as 16 hex chars. */
export function metadataDigest(encoded: Buffer): string {
  return createHash("sha256").update(encoded).digest("hex").slice(0, 16);
}
