// Public surface of the gossip layer, for the daemon (issue 5) and the CLI (`vipd keygen`).
//
// Wiring, in short:
//   const keyring = parseKeyring(readFileSync(keyFile, "utf8"));   // or insecure: true (print INSECURE_WARNING)
//   const transport = await UdpTransport.listen({ bindHost, port: 7946 });
//   const ml = new Memberlist({ name, advertiseAddr, transport, clock: new RealClock(), keyring,
//                               config: gossipProfile("lan"), clusterLabel, metadata });
//   ml.on("dead", (m) => ...); ml.on("metadata", (m) => ...);  // join/alive/suspect/dead/leave/metadata
//   ml.start(); ml.join(seeds);                                   // retried with backoff while alone
//   ml.setMetadata({ labels, manifestDigest, eligibility });     // after each reconcile that changes it
//   shutdown: await ml.leave(); ml.stop(); await transport.close();
// Key rotation: keep the Keyring object and call addKey / useKey / removeKey on it (takes effect at once).
// Memberlist never closes the transport; members() includes ourselves; `since` is Clock (monotonic) ms.
export { gossipProfile, LAN, WAN, type GossipConfig, type GossipProfileName } from "./config";
export { RealClock, type Clock, type TimerHandle } from "./clock";
export { UdpTransport, type UdpTransportOptions } from "./udp-transport";
export { joinHostPort, splitHostPort, type PacketHandler, type Transport } from "./transport";
export {
  generateKey,
  INSECURE_WARNING,
  Keyring,
  KeyringError,
  NO_KEY_MESSAGE,
  parseKeyring,
} from "./keyring";
export { EMPTY_METADATA, type Ineligible, type MemberMetadata } from "./metadata";
export { Memberlist, type MemberlistEvents, type MemberlistOptions, type MemberView } from "./memberlist";
export type { MemberStateName } from "./codec";
export { REJECT_REASONS, type GossipStats, type RejectReason } from "./stats";
