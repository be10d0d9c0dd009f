// Builders for the planner tests: a real config parsed from YAML, members with gossiped metadata, and a
// snapshot with every input explicit so each table row states what it changes.
import { activate, type ActiveConfig } from "../../lib/daemon/config-state";
import { electionHash, type MemberState } from "../../lib/election/election";
import type { MemberMetadata } from "../../lib/gossip/metadata";
import { LEGACY_VERSIONS } from "../../lib/gossip/version";
import type { InterfaceChoice } from "../../lib/net/interface-choice";
import type {
  AddressDivergence,
  ForeignConflict,
  NodePolicy,
  PlanMember,
  Snapshot,
  TrialResult,
} from "../../lib/plan/types";
import { ad, docs, parse, pool, service } from "./config-helpers";

/** One service per IP (pool "p", one L2Advertisement for every node), optionally non-revertive. */
export function planConfig(
  ips: readonly string[],
  opts: { failback?: boolean; before?: ActiveConfig } = {},
): ActiveConfig {
  const advert =
    opts.failback === false
      ? `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
  annotations: {"vipd.io/failback": "false"}
spec:
  ipAddressPools: [p]`
      : ad("l2", "  ipAddressPools: [p]");
  const text = docs(
    pool(
      "p",
      ips.map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`)),
    ),
    advert,
    ...ips.map((ip, i) =>
      service(`svc${i}`, {
        spec: `  loadBalancerIP: ${ip}${ip.includes(":") ? "\n  ipFamilies: [IPv6]" : ""}`,
      }),
    ),
  );
  const outcome = activate(parse(text), opts.before?.allocation.state, new Date(0), opts.before);
  if (!outcome.ok) throw new Error(outcome.errors.join("\n"));
  return outcome.active;
}

export function member(
  name: string,
  active: ActiveConfig,
  extra: {
    state?: MemberState;
    owned?: string[];
    released?: string[];
    metadata?: false;
    ineligible?: { vip: string; reason: string }[];
    /** vipd 0.1.0 (advertises no versions; cannot hand over). */
    legacy?: boolean;
  } = {},
): PlanMember {
  const metadata: MemberMetadata = {
    labels: { "kubernetes.io/hostname": name },
    manifestDigest: active.load.digest,
    eligibility: { eligible: [], ineligible: extra.ineligible ?? [] },
    ...(extra.owned ? { owned: extra.owned } : {}),
    ...(extra.released ? { released: extra.released } : {}),
  };
  return {
    name,
    state: extra.state ?? "alive",
    ...(extra.metadata === false ? {} : { metadata }),
    ...(extra.legacy ? { versions: LEGACY_VERSIONS } : {}),
  };
}

export interface SnapshotOptions {
  self?: string;
  now?: number;
  members?: PlanMember[];
  ready?: boolean;
  held?: ReadonlyMap<string, string>;
  /** Held addresses confirmed and announced; default: every held one (the applier confirms at once). */
  placed?: ReadonlySet<string>;
  quorum?: NodePolicy["quorum"];
  failback?: boolean;
  probe?: boolean;
  choice?: (ip: string) => InterfaceChoice | undefined;
  unhealthy?: (ip: string) => string | undefined;
  foreign?: ReadonlyMap<string, ForeignConflict>;
  probing?: ReadonlySet<string>;
  clearAt?: ReadonlyMap<string, number>;
  events?: Snapshot["memberEvents"];
  /** The kernel: what it holds of `held` (default all), and the applier's divergences. */
  observed?: (ip: string) => boolean;
  divergences?: readonly AddressDivergence[];
  trialResults?: readonly TrialResult[];
}

export const ON_ETH0: InterfaceChoice = { eligible: true, interfaces: ["eth0"] };

export function snapshot(active: ActiveConfig, o: SnapshotOptions = {}): Snapshot {
  const self = o.self ?? "node-a";
  return {
    now: o.now ?? 100_000,
    wallTime: 1_700_000_000_000 + (o.now ?? 100_000),
    node: {
      name: self,
      labels: { "kubernetes.io/hostname": self },
      failback: o.failback ?? true,
      quorum: o.quorum ?? { mode: "none", expect: 1 },
      probeBeforeTakeover: o.probe ?? false,
    },
    config: active,
    members: o.members ?? [member(self, active)],
    memberEvents: o.events ?? [],
    links: { choice: o.choice ?? (() => ON_ETH0) },
    health: {
      unhealthyReason: o.unhealthy ?? (() => undefined),
      checked: (ip) => (o.unhealthy ? o.unhealthy(ip) !== undefined : false),
    },
    conflicts: {
      foreign: o.foreign ?? new Map(),
      isProbing: (ip) => o.probing?.has(ip) ?? false,
      probedClearAt: (ip) => o.clearAt?.get(ip),
    },
    held: o.held ?? new Map(),
    placed: o.placed ?? { has: (ip) => (o.held ?? new Map()).has(ip) },
    ready: o.ready ?? true,
    addresses: {
      observed: o.observed ?? ((ip) => (o.held ?? new Map()).has(ip)),
      divergences: () => o.divergences ?? [],
    },
    trialResults: o.trialResults ?? [],
  };
}

/** `names` in election order for `ip` (equal scores: lowest hash first). */
export function ranked(ip: string, names: readonly string[]): string[] {
  return [...names].sort((a, b) => (electionHash(a, ip) < electionHash(b, ip) ? -1 : 1));
}
