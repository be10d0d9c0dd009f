// The per-document parse cache (lib/config/manifests.ts) must be invisible: a reload after any edit gives
// exactly what a fresh parse of the same text gives, line numbers of diagnostics and sources included.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseManifests } from "../../lib/config/manifests";
import type { LoadResult } from "../../lib/config/types";

const pool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p}
spec: {addresses: [198.51.100.0/28]}
`;
const ad = `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: a}
`;
const service = (name: string, extra = ""): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {type: LoadBalancer${extra}}
`;
const stream = (...docs: string[]): string => docs.map((d) => `---\n${d}`).join("");

/** What a result says, with the file name taken out (the fresh parse uses another path, so no cache hit). */
function view(result: LoadResult): unknown {
  return {
    diagnostics: result.diagnostics.map((d) => [d.severity, d.message, d.source?.line, d.source?.column]),
    services: result.config
      ? [...result.config.services.values()].map((s) => [s.key, s.source.line])
      : undefined,
    digest: result.digest,
  };
}

const edits: Array<[string, string, string]> = [
  [
    "append a service",
    stream(pool, ad, service("a"), service("b")),
    stream(pool, ad, service("a"), service("b"), service("c")),
  ],
  [
    "insert a service in the middle",
    stream(pool, ad, service("a"), service("b")),
    stream(pool, service("z"), ad, service("a"), service("b")),
  ],
  [
    "an error after an insert keeps its true line",
    stream(pool, ad, service("a"), service("b", ", bogus: 1")),
    stream(pool, "# a comment\n# two lines\n" + ad, service("a"), service("b", ", bogus: 1")),
  ],
  ["a duplicate service", stream(pool, ad, service("a")), stream(pool, ad, service("a"), service("a"))],
  [
    "an edit to one document",
    stream(pool, ad, service("a"), service("b")),
    stream(pool, ad, service("a", ", loadBalancerClass: x"), service("b")),
  ],
  [
    "a syntax error falls back to the full parser",
    stream(pool, ad, service("a")),
    stream(pool, ad, service("a") + "  bad: [\n"),
  ],
];

for (const [name, before, after] of edits) {
  test(`document cache: ${name} gives what a fresh parse gives`, () => {
    parseManifests([{ path: "/cached/pools.yaml", text: before }]);
    const reloaded = parseManifests([{ path: "/cached/pools.yaml", text: after }]);
    const fresh = parseManifests([{ path: `/fresh/${name}.yaml`, text: after }]);
    assert.deepEqual(view(reloaded), view(fresh));
    if (after.includes("bogus")) assert.ok(reloaded.diagnostics.some((d) => d.message.includes("bogus")));
    if (after.includes("bad: [")) assert.ok(reloaded.diagnostics.some((d) => d.message.includes("YAML")));
    // And the cached state does not leak into the next parse of the old text either.
    const back = parseManifests([{ path: "/cached/pools.yaml", text: before }]);
    assert.deepEqual(view(back), view(parseManifests([{ path: `/fresh2/${name}.yaml`, text: before }])));
  });
}
