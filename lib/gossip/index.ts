// Public surface of the gossip layer, for the daemon (issue 5) and the CLI (`vipd keygen`).
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
