// A gossip thread's options for the tests that start real threads: one member on loopback, an ephemeral port,
// the lan profile and an empty record; each test says only what it changes.
import { EMPTY_METADATA } from "../../lib/gossip/metadata";
import type { GossipThreadOptions } from "../../lib/gossip/thread-protocol";

export function loopbackThreadOptions(
  name: string,
  changes: Partial<GossipThreadOptions> = {},
): GossipThreadOptions {
  return {
    name,
    bindHost: "127.0.0.1",
    bindPort: 0,
    advertise: undefined,
    profile: "lan",
    clusterLabel: "vipd-test",
    keys: undefined,
    metadata: EMPTY_METADATA,
    ...changes,
  };
}
