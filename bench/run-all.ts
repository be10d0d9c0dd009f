// `npm run bench`: every benchmark in bench/, one after another, each writing bench/results/<name>.json,
// then docs/benchmarks.md from those files. The lab benchmarks (net, failover) need root, like the lab tests.
// Each result file gets a `provenance` record (command, machine, date) so the report can show where every
// figure came from.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";

const benches = ["validate", "alloc", "gossip", "net", "scale", "failover"];
const results = join(__dirname, "..", "..", "bench", "results");
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? "",
  kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
  node: process.version,
};
const started = Date.now();
let failed = 0;
for (const name of benches) {
  console.log(`\n== bench/${name}`);
  const at = new Date().toISOString();
  const r = spawnSync(process.execPath, [join(__dirname, `${name}.js`)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.error(`bench/${name} failed (exit ${r.status})`);
    continue;
  }
  const file = join(results, `${name}.json`);
  if (!existsSync(file)) continue;
  const data = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  data.provenance = { command: `npm run bench (node dist/bench/${name}.js)`, at, machine };
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
}
console.log(`\n== docs/benchmarks.md`);
if (spawnSync(process.execPath, [join(__dirname, "report.js")], { stdio: "inherit" }).status !== 0) failed++;
console.log(`npm run bench: ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(failed === 0 ? 0 : 1);
