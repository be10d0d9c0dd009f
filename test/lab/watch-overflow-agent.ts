// Run inside a lab node namespace by watch-overflow-lab.test.ts: a NetlinkWatch whose notification socket
// has a small receive buffer, and an event loop blocked (execFileSync) while `ip -batch` adds, then
// removes, far more addresses than that buffer holds. The kernel drops notifications; the watch must live
// through it and converge on the kernel's state. Prints one JSON line of what it saw.
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetlinkWatch } from "../../lib/net/netlink-watch";
import { waitUntil } from "../wait";

const count = Number(process.argv[2] ?? 1000);
const EVENT_BUFFER_BYTES = 64 * 1024;

async function main(): Promise<void> {
  const watch = await NetlinkWatch.start({ eventBufferBytes: EVENT_BUFFER_BYTES });
  const eth0 = watch.link("eth0");
  if (!eth0) throw new Error("no eth0 in this namespace");
  const ips = Array.from({ length: count }, (_, i) => `2001:db8:200::${(i + 1).toString(16)}`);
  const ours = new Set(ips);
  const added = new Set<string>();
  const removed = new Set<string>();
  watch.onChange((change) => {
    if (change.kind !== "address" || !ours.has(change.address.ip)) return;
    (change.change === "new" ? added : removed).add(change.address.ip);
  });
  const batchFile = join(tmpdir(), `vipd-watch-overflow-${process.pid}`);
  const held = (): number => ips.filter((ip) => watch.hasAddress(ip, eth0.index)).length;
  try {
    writeFileSync(batchFile, ips.map((ip) => `addr add ${ip}/128 dev eth0 nodad\n`).join(""));
    execFileSync("ip", ["-batch", batchFile]);
    await waitUntil("every added address in the watch's view", () => held() === count, 20_000, {
      detail: () => `${held()} of ${count} held, resyncs ${watch.resyncs}`,
    });
    const resyncsAfterAdd = watch.resyncs;
    writeFileSync(batchFile, ips.map((ip) => `addr del ${ip}/128 dev eth0\n`).join(""));
    execFileSync("ip", ["-batch", batchFile]);
    await waitUntil("every removed address gone from the watch's view", () => held() === 0, 20_000, {
      detail: () => `${held()} of ${count} still held, resyncs ${watch.resyncs}`,
    });
    process.stdout.write(
      JSON.stringify({
        count,
        resyncsAfterAdd,
        resyncs: watch.resyncs,
        addEvents: added.size,
        removeEvents: removed.size,
      }) + "\n",
    );
  } finally {
    rmSync(batchFile, { force: true });
    watch.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
