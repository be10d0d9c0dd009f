// Versions of what vipd nodes exchange, after memberlist's model (Vsn: protocol min/max/current plus the
// delegate's min/max/current): every member advertises the range of gossip protocol versions and of member
// metadata formats it understands, and the one it currently speaks. A node speaks the highest version every
// live member understands, so a cluster mixing two releases works; a member whose range does not overlap
// ours is refused. Pure: no I/O, no clock; the Memberlist feeds it the live members and applies the result.
//
// What the numbers mean (docs/design.md "Versions and rolling upgrades" has the full table):
//   protocol 1  the packet and message layouts of vipd 0.1.0 (commit 0c363b2), which rejects a whole packet
//               holding an unknown message type or a message with bytes after its known fields.
//   protocol 2  the same layouts; receivers skip unknown message types and ignore bytes after a message's
//               known fields, so a field appended to a message needs no bump. Only send such extensions
//               when the negotiated protocol is ≥ 2.
//   metadata 1  0.1.0's record: a tuple of 5 to 10 positions, format 1 in slot 0; the version vector rides
//               in a reserved label (VERSION_LABEL), the one place 0.1.0 accepts and relays anything new.
//   metadata 2  the same positions, format 2 in slot 0, plus an object in slot 10 for optional fields
//               (the version vector is one); unknown keys and positions are ignored, so adding an optional
//               field needs no bump (see metadata.ts).
// A version bump is for an incompatible change only. The N-1 policy: release N keeps the versions of N-1 in
// its range, so every upgrade and downgrade between neighbouring releases is one node at a time.

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export interface Speaks extends VersionRange {
  /** The version in use now (negotiated). */
  readonly current: number;
}

/** What a member advertises about itself. */
export interface MemberVersions {
  /** The vipd release, e.g. "0.2.0": shown to operators, never compared. */
  readonly build: string;
  readonly protocol: Speaks;
  readonly metadata: Speaks;
}

export interface OwnRanges {
  readonly protocol: VersionRange;
  readonly metadata: VersionRange;
}

/** This build's ranges. Keep N-1's versions in them (see the policy above). */
export const PROTOCOL_RANGE: VersionRange = Object.freeze({ min: 1, max: 2 });
export const METADATA_RANGE: VersionRange = Object.freeze({ min: 1, max: 2 });
export const OWN_RANGES: OwnRanges = Object.freeze({ protocol: PROTOCOL_RANGE, metadata: METADATA_RANGE });

/** A member whose record advertises no versions: vipd 0.1.0 (commit 0c363b2), which predates them. */
export const LEGACY_VERSIONS: MemberVersions = Object.freeze({
  build: "0.1.0",
  protocol: Object.freeze({ min: 1, max: 1, current: 1 }),
  metadata: Object.freeze({ min: 1, max: 1, current: 1 }),
});

export interface PeerVersions {
  readonly name: string;
  readonly versions: MemberVersions;
}

export interface Refusal {
  readonly name: string;
  readonly reason: string;
}

export interface Negotiated {
  readonly protocol: number;
  readonly metadata: number;
  /** Members to refuse, by name order. */
  readonly refused: readonly Refusal[];
}

type Kind = "protocol" | "metadata";
const KINDS: readonly Kind[] = ["protocol", "metadata"];
const LABEL: Record<Kind, string> = { protocol: "gossip protocol", metadata: "metadata format" };

export function rangeText(r: VersionRange): string {
  return r.min === r.max ? `${r.min}` : `${r.min}..${r.max}`;
}

/** One line for logs and status: "vipd 0.2.0, gossip protocol 1..2 (speaks 1), metadata format 1..2 (speaks 1)". */
export function versionsText(v: MemberVersions): string {
  return `vipd ${v.build}, ${KINDS.map((k) => `${LABEL[k]} ${rangeText(v[k])} (speaks ${v[k].current})`).join(", ")}`;
}

/**
 * The versions to speak with `peers` (the live members whose versions are known), and the members to refuse:
 *  1. a member whose protocol or metadata range does not overlap ours is refused;
 *  2. with the rest, each kind is the highest version in every range (ours included);
 *  3. if the rest have no common version although each overlaps us (possible only across more than one
 *     release, which the N-1 policy rules out), the version most of them speak wins (the higher on a tie)
 *     and those that cannot speak it are refused.
 */
export function negotiate(own: OwnRanges, peers: readonly PeerVersions[]): Negotiated {
  const refused: Refusal[] = [];
  let accepted = [...peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const p of accepted) {
    const kind = KINDS.find((k) => !overlaps(own[k], p.versions[k]));
    if (kind)
      refused.push({
        name: p.name,
        reason: `its ${LABEL[kind]} range ${rangeText(p.versions[kind])} (vipd ${p.versions.build}) does not overlap this node's ${rangeText(own[kind])}`,
      });
  }
  accepted = accepted.filter((p) => !refused.some((r) => r.name === p.name));
  const chosen: Record<Kind, number> = { protocol: own.protocol.max, metadata: own.metadata.max };
  for (const kind of KINDS) {
    const ranges = accepted.map((p) => p.versions[kind]);
    const lo = Math.max(own[kind].min, ...ranges.map((r) => r.min));
    const hi = Math.min(own[kind].max, ...ranges.map((r) => r.max));
    if (lo <= hi) {
      chosen[kind] = hi;
      continue;
    }
    let best = own[kind].max;
    let bestCount = -1;
    for (let v = own[kind].max; v >= own[kind].min; v--) {
      const count = ranges.filter((r) => r.min <= v && v <= r.max).length;
      if (count > bestCount) {
        best = v;
        bestCount = count;
      }
    }
    chosen[kind] = best;
    for (const p of accepted)
      if (!(p.versions[kind].min <= best && best <= p.versions[kind].max))
        refused.push({
          name: p.name,
          reason: `its ${LABEL[kind]} range ${rangeText(p.versions[kind])} (vipd ${p.versions.build}) misses version ${best}, which the rest of the cluster speaks`,
        });
    accepted = accepted.filter((p) => !refused.some((r) => r.name === p.name));
  }
  refused.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { protocol: chosen.protocol, metadata: chosen.metadata, refused };
}

/**
 * Whether one more member advertising `versions` leaves a negotiation that chose `speaking` as it is: its
 * ranges hold the chosen versions, so it lowers no maximum, raises no minimum above them, and is not refused.
 */
export function holdsChosen(versions: MemberVersions, speaking: Readonly<Record<Kind, number>>): boolean {
  return KINDS.every((k) => versions[k].min <= speaking[k] && speaking[k] <= versions[k].max);
}

/**
 * Whether two advertised vectors negotiate alike: same ranges and build (the build is in refusal reasons).
 * The version a member currently speaks plays no part in `negotiate`.
 */
export function negotiatesAlike(a: MemberVersions, b: MemberVersions): boolean {
  return a.build === b.build && KINDS.every((k) => a[k].min === b[k].min && a[k].max === b[k].max);
}

function overlaps(a: VersionRange, b: VersionRange): boolean {
  return a.min <= b.max && b.min <= a.max;
}
