// `npm run bench`: every benchmark in bench/, one after another, each writing bench/results/<name>.json.
// The lab benchmarks (net) need root, like the lab tests.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const benches = ["validate", "alloc", "gossip", "net"];
let failed = 0;
for (const name of benches) {
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, [join(__dirname, `${name}.js`)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.error(`bench/${name} failed (exit ${r.status})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
