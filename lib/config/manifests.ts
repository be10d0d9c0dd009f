// Manifests -> ManifestConfig. Pure: text in, data and diagnostics out.
//
// Order. Files are processed sorted by path, then documents in file order, then `List` items in order;
// that sequence is the "YAML order" of MetalLB's cross-object checks (duplicate pools, CIDR overlaps), so
// which object an overlap error is attached to depends on paths and positions, never on the order the files
// were read or listed in. The resulting config lists pools and advertisements by name and services by key.
//
// Errors. Anything Kubernetes' API server or MetalLB's config parser would refuse (syntax, types, unknown
// fields, bad CIDRs, overlaps, bad selectors, duplicate objects) is a configuration error: no config is
// produced, as MetalLB keeps its last good config. Problems MetalLB reports per Service at allocation time
// (unparsable or conflicting requested IPs) travel in `Service.requestError`, so one bad Service does not
// block the others.
import { isMap, isScalar, LineCounter, parseAllDocuments, type Node } from "yaml";
import { formatCidr } from "../ip";
import { CidrRegistry } from "./addresses";
import { canonicalJson, digestObjects } from "./digest";
import { MAX_ALIAS_EXPANSION, parseAllFast, type FastDocument } from "./fastyaml";
import { compareDiagnostics, diagnostic, hasErrors, quote } from "./diagnostics";
import { checkLabels, readMetadata } from "./fields";
import { readAdvertisement } from "./l2advertisement";
import { readPool, type RawPool } from "./pool";
import { EVERYTHING, selectorsMatchAny, selectorString } from "./selectors";
import { readService } from "./service";
import { didYouMean } from "./suggest";
import {
  cachedReading,
  chunkKey,
  documentCache,
  fileChunks,
  type Collected,
  type DocumentReading,
} from "./document-cache";
import type {
  AddressPool,
  Diagnostic,
  L2Advertisement,
  Labels,
  LoadResult,
  ManifestConfig,
  Service,
  ServiceAllocation,
  SourceRef,
} from "./types";
import { describe, readList, readMap, readString, ReadContext } from "./yamlread";

export interface ManifestFile {
  readonly path: string;
  readonly text: string;
}

const METALLB_API = "metallb.io/v1beta1";
/** MetalLB kinds vipd does not implement (BGP and status objects): ignored with a specific warning. */
const OTHER_METALLB_KINDS = [
  "BGPPeer",
  "BGPAdvertisement",
  "BFDProfile",
  "Community",
  "ServiceL2Status",
  "ServiceBGPStatus",
  "ConfigurationState",
];
/** The kinds vipd reads; a kind one typo away from one of them is an error. */
const USED_KINDS = ["IPAddressPool", "L2Advertisement", "Service"];
const OBJECT_FIELDS = ["apiVersion", "kind", "metadata", "spec", "status"];
const MAX_LIST_DEPTH = 8;

export function parseManifests(files: readonly ManifestFile[]): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const collected: Collected = { pools: [], advertisements: [], services: [], namespaces: [], canonical: [] };
  const byPath = new Map<string, ManifestFile>();
  for (const file of files) if (!byPath.has(file.path)) byPath.set(file.path, file);
  const paths = [...byPath.keys()].sort();
  for (const path of paths) parseFile(byPath.get(path) as ManifestFile, collected, diagnostics);

  const config = buildConfig(collected, diagnostics, paths.length > 0);
  diagnostics.sort(compareDiagnostics);
  return {
    ...(hasErrors(diagnostics) ? {} : { config }),
    diagnostics,
    digest: digestObjects(collected.canonical),
    files: paths,
  };
}

function parseFile(file: ManifestFile, collected: Collected, diagnostics: Diagnostic[]): void {
  const nul = file.text.indexOf("\u0000");
  if (nul >= 0) {
    const before = file.text.slice(0, nul);
    const line = before.split("\n").length;
    const column = nul - before.lastIndexOf("\n");
    diagnostics.push(
      diagnostic("error", "file contains NUL bytes: this is not a YAML text file", {
        file: file.path,
        line,
        column,
      }),
    );
    return;
  }
  const readings = readDocumentsFast(file);
  if (readings) {
    for (const reading of readings) {
      collected.pools.push(...reading.collected.pools);
      collected.advertisements.push(...reading.collected.advertisements);
      collected.services.push(...reading.collected.services);
      collected.namespaces.push(...reading.collected.namespaces);
      collected.canonical.push(...reading.collected.canonical);
      diagnostics.push(...reading.diagnostics);
    }
    return;
  }
  // Malformed: the yaml package gives the better, complete diagnostics.
  const lines = new LineCounter();
  const documents = parseAllDocuments(file.text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const list = Array.isArray(documents) ? documents : [];
  for (const doc of list) {
    const at = (offset: number): SourceRef => {
      const { line, col } = lines.linePos(offset);
      return { file: file.path, line, column: col };
    };
    for (const warning of doc.warnings) {
      diagnostics.push(diagnostic("warning", firstLine(warning.message), at(warning.pos[0])));
    }
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        diagnostics.push(
          diagnostic("error", `YAML syntax error: ${firstLine(error.message)}`, at(error.pos[0])),
        );
      }
      continue;
    }
    const ctx = new ReadContext(file.path, lines, doc, diagnostics);
    const node = ctx.resolve(doc.contents);
    if (node !== null) readObject(ctx, node, collected, 0);
  }
}

/**
 * The js-yaml fast path, one document chunk at a time (chunks whose text and first line are unchanged since
 * the previous parse are reused, see document-cache.ts): undefined when any chunk is malformed (the caller
 * then parses the whole file with the yaml package).
 */
function readDocumentsFast(file: ManifestFile): DocumentReading[] | undefined {
  const text = file.text;
  const previous = documentCache.get(file.path);
  const next = new Map<string, DocumentReading>();
  const readings: DocumentReading[] = [];
  let lines: LineCounter | undefined;
  for (const chunk of fileChunks(text)) {
    const key = chunkKey(chunk);
    const cached = previous?.get(key);
    if (cached) {
      next.set(key, cached);
      readings.push(cached);
      continue;
    }
    let documents: FastDocument[];
    try {
      documents = parseAllFast(chunk.text);
    } catch {
      return undefined;
    }
    if (!lines) lines = lineCounter(text);
    const read: Collected = { pools: [], advertisements: [], services: [], namespaces: [], canonical: [] };
    const readDiagnostics: Diagnostic[] = [];
    for (const doc of documents) {
      const ctx = new ReadContext(file.path, lines, undefined, readDiagnostics, chunk.start);
      if (doc.aliasOverflowAt !== undefined) {
        ctx.error(
          null,
          `aliases expand this document beyond ${MAX_ALIAS_EXPANSION} nodes`,
          ctx.sourceAt(doc.aliasOverflowAt),
        );
        continue;
      }
      if (doc.contents !== null) readObject(ctx, doc.contents, read, 0);
    }
    const reading = cachedReading(read, readDiagnostics);
    next.set(key, reading);
    readings.push(reading);
  }
  documentCache.set(file.path, next);
  return readings;
}

function lineCounter(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines.addNewLine(i + 1);
  return lines;
}

/** The parser's message without the " at line L, column C" suffix and the excerpt (the position is ours). */
function firstLine(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

/** A string entry of a mapping, read without reporting anything (for labelling objects early). */
function peekString(ctx: ReadContext, map: Node | null, key: string): string {
  if (!isMap(map)) return "";
  for (const pair of map.items) {
    const k = ctx.resolve(pair.key);
    if (isScalar(k) && k.value === key) {
      const v = ctx.resolve(pair.value);
      return isScalar(v) && typeof v.value === "string" ? v.value : "";
    }
  }
  return "";
}

const peekName = (ctx: ReadContext, metadata: Node | null): string => peekString(ctx, metadata, "name");

function readObject(ctx: ReadContext, node: Node, collected: Collected, depth: number): void {
  ctx.object = undefined;
  if (!isMap(node)) {
    ctx.error(
      node,
      `expected a Kubernetes object (a mapping with apiVersion and kind), got ${describe(node)}`,
    );
    return;
  }
  const top = readMap(ctx, node, "", "any") ?? new Map();
  const kindNode = top.get("kind")?.value ?? null;
  const apiNode = top.get("apiVersion")?.value ?? null;
  const kind = readString(ctx, kindNode, "kind");
  const apiVersion = readString(ctx, apiNode, "apiVersion");
  if (kindNode === null) ctx.error(node, "kind is required");
  if (apiNode === null) ctx.error(node, "apiVersion is required");
  if (kind === undefined || apiVersion === undefined) return;
  const source = ctx.sourceOf(node);

  if (kind === "List" || (kind.endsWith("List") && apiVersion === "v1")) {
    ctx.object = kind;
    readMap(ctx, node, "", ["apiVersion", "kind", "metadata", "items"]);
    if (depth >= MAX_LIST_DEPTH) {
      ctx.error(node, `Lists nested more than ${MAX_LIST_DEPTH} deep`);
      return;
    }
    const items = readList(ctx, top.get("items")?.value ?? null, "items") ?? [];
    items.forEach((item, i) => {
      if (item === null) ctx.warn(node, `items[${i}] is null: ignored`);
      else readObject(ctx, item, collected, depth + 1);
    });
    return;
  }

  const recognised =
    (apiVersion === METALLB_API && (kind === "IPAddressPool" || kind === "L2Advertisement")) ||
    (apiVersion === "v1" && (kind === "Service" || kind === "Namespace"));
  if (!recognised) {
    ctx.object = kind;
    const name = peekName(ctx, top.get("metadata")?.value ?? null);
    if (name) ctx.object = `${kind}/${name}`;
    if (["IPAddressPool", "L2Advertisement", "Service", "Namespace"].includes(kind)) {
      const want = kind === "Service" || kind === "Namespace" ? "v1" : METALLB_API;
      ctx.warn(
        apiNode,
        `apiVersion ${quote(apiVersion)} is not supported for ${kind} (expected ${quote(want)}): ignored`,
      );
    } else if (apiVersion.startsWith("metallb.io/") && OTHER_METALLB_KINDS.includes(kind)) {
      ctx.warn(kindNode, `${kind} is not used by vipd (layer 2 only): ignored`);
    } else if (apiVersion.startsWith("metallb.io/") || didYouMean(kind, USED_KINDS) !== undefined) {
      // A misspelt kind would silently drop the object (nothing announced, exit 0): that is an error, not a
      // warning. Other kinds (a Deployment pasted along with the services) stay a warning.
      const hint = didYouMean(kind, USED_KINDS);
      ctx.error(
        kindNode,
        `kind ${quote(kind)} (apiVersion ${quote(apiVersion)}) is not a kind vipd knows` +
          (hint ? `: did you mean ${quote(hint)}?` : ` (it reads ${USED_KINDS.join(", ")})`),
      );
    } else {
      ctx.warn(
        kindNode,
        `kind ${quote(kind)} (apiVersion ${quote(apiVersion)}) is not used by vipd: ignored`,
      );
    }
    return;
  }

  const metadataNode = top.get("metadata")?.value ?? null;
  const name = peekName(ctx, metadataNode);
  ctx.object =
    kind === "Service" ? `Service/${serviceNamespace(ctx, metadataNode)}/${name}` : `${kind}/${name}`;
  readMap(ctx, node, "", OBJECT_FIELDS);
  if (metadataNode === null) ctx.error(node, "metadata is required");
  const meta = readMetadata(ctx, metadataNode);
  const specNode = top.get("spec")?.value ?? null;
  const object = ctx.object;

  switch (kind) {
    case "IPAddressPool": {
      const pool = readPool(ctx, meta, specNode, source);
      collected.pools.push(pool);
      collected.canonical.push(
        canonicalJson({
          kind,
          name: pool.name,
          labels: pool.labels,
          addresses: pool.entries.map((e) => e.cidrs.map(formatCidr)),
          autoAssign: pool.autoAssign,
          avoidBuggyIPs: pool.avoidBuggyIPs,
          serviceAllocation: pool.serviceAllocation && {
            priority: pool.serviceAllocation.priority,
            namespaces: pool.serviceAllocation.namespaces,
            namespaceSelectors: pool.serviceAllocation.namespaceSelectors
              .map((s) => selectorString(s.selector))
              .sort(),
            serviceSelectors: pool.serviceAllocation.serviceSelectors
              .map((s) => selectorString(s.selector))
              .sort(),
          },
        }),
      );
      return;
    }
    case "L2Advertisement": {
      const ad = readAdvertisement(ctx, meta, specNode, source);
      collected.advertisements.push(ad);
      const selectors = (list: readonly { selector: Parameters<typeof selectorString>[0] }[]): string[] =>
        list.map((s) => selectorString(s.selector)).sort();
      collected.canonical.push(
        canonicalJson({
          kind,
          name: ad.name,
          annotations: ad.annotations,
          ipAddressPools: ad.poolNames.map((p) => p.value).sort(),
          ipAddressPoolSelectors: selectors(ad.poolSelectors),
          restrictsPools: ad.restrictsPools,
          nodeSelectors: selectors(ad.nodeSelectors),
          interfaces: [...ad.interfaces].sort(),
          serviceSelectors: selectors(ad.serviceSelectors),
          preferredNodeSelectors: ad.preferredNodeSelectors.map((p) => [
            p.weight,
            selectorString(p.preference),
          ]),
        }),
      );
      return;
    }
    case "Service": {
      const service = readService(ctx, meta, specNode, source, top.get("status")?.value ?? null);
      if (!service) return;
      collected.services.push({ service, object });
      const { source: _source, ...rest } = service;
      collected.canonical.push(canonicalJson({ kind, ...rest }));
      return;
    }
    case "Namespace": {
      if (meta.name === "") ctx.error(metadataNode ?? node, "metadata.name is required");
      checkLabels(ctx, null, meta.labels, "metadata.labels");
      collected.namespaces.push({ name: meta.name, labels: meta.labels, source, object });
      collected.canonical.push(canonicalJson({ kind, name: meta.name, labels: meta.labels }));
      return;
    }
  }
}

function serviceNamespace(ctx: ReadContext, metadata: Node | null): string {
  return peekString(ctx, metadata, "namespace") || "default";
}

function buildConfig(collected: Collected, diagnostics: Diagnostic[], anyFiles: boolean): ManifestConfig {
  const error = (source: SourceRef, object: string, message: string): void => {
    diagnostics.push(diagnostic("error", message, source, object));
  };
  const warn = (source: SourceRef | undefined, object: string | undefined, message: string): void => {
    diagnostics.push(diagnostic("warning", message, source, object));
  };

  const namespaces = new Map<string, Labels>();
  for (const ns of collected.namespaces) {
    if (ns.name === "") continue;
    if (namespaces.has(ns.name))
      error(ns.source, ns.object, `duplicate definition of Namespace ${quote(ns.name)}`);
    else namespaces.set(ns.name, ns.labels);
  }

  // Pools in YAML order: MetalLB's poolsFor.
  const pools = new Map<string, RawPool>();
  const registry = new CidrRegistry();
  for (const pool of collected.pools) {
    if (pool.name === "") continue;
    if (pools.has(pool.name)) {
      error(pool.nameSource, pool.object, `duplicate definition of pool ${quote(pool.name)}`);
      continue;
    }
    pools.set(pool.name, pool);
    for (const entry of pool.entries) {
      for (const cidr of entry.cidrs) {
        const overlap = registry.define(cidr, pool.name);
        if (overlap) error(entry.source, pool.object, overlap);
      }
    }
  }
  if (anyFiles && pools.size === 0)
    warn(undefined, undefined, "no IPAddressPool defined: no Service can get an address");

  const advertisements: L2Advertisement[] = [];
  const covered = new Set<string>();
  const adNames = new Set<string>();
  for (const ad of collected.advertisements) {
    if (ad.name !== "" && adNames.has(ad.name)) {
      error(ad.nameSource, ad.object, `duplicate definition of L2Advertisement ${quote(ad.name)}`);
      continue;
    }
    adNames.add(ad.name);
    const selected = new Set<string>();
    if (!ad.restrictsPools) for (const name of pools.keys()) selected.add(name);
    for (const { value, source } of ad.poolNames) {
      // MetalLB ignores unknown names silently; an operator wants to hear about the typo.
      if (pools.has(value)) selected.add(value);
      else warn(source, ad.object, `ipAddressPools: no IPAddressPool named ${quote(value)}`);
    }
    if (ad.poolSelectors.length > 0) {
      for (const pool of pools.values()) {
        if (
          selectorsMatchAny(
            ad.poolSelectors.map((s) => s.selector),
            pool.labels,
          )
        )
          selected.add(pool.name);
      }
    }
    if (ad.restrictsPools && selected.size === 0) {
      warn(ad.source, ad.object, "selects no IPAddressPool: this advertisement announces nothing");
    }
    for (const name of selected) covered.add(name);
    advertisements.push({
      name: ad.name,
      pools: [...selected].sort(),
      nodeSelectors: ad.nodeSelectors.map((s) => s.selector),
      interfaces: ad.interfaces,
      serviceSelectors: ad.serviceSelectors.map((s) => s.selector),
      preferredNodeSelectors: ad.preferredNodeSelectors,
      annotations: ad.annotations,
      source: ad.source,
    });
  }

  const addressPools: AddressPool[] = [];
  for (const pool of pools.values()) {
    if (!covered.has(pool.name)) {
      warn(
        pool.source,
        pool.object,
        `no L2Advertisement covers pool ${quote(pool.name)}: its addresses are allocated but never announced`,
      );
    }
    addressPools.push({
      name: pool.name,
      labels: pool.labels,
      cidrs: pool.entries.flatMap((e) => e.cidrs),
      autoAssign: pool.autoAssign,
      avoidBuggyIPs: pool.avoidBuggyIPs,
      ...(pool.serviceAllocation ? { serviceAllocation: resolveAllocation(pool, namespaces, warn) } : {}),
      source: pool.source,
    });
  }

  const services = new Map<string, Service>();
  for (const { service, object } of collected.services) {
    if (services.has(service.key))
      error(service.source, object, `duplicate definition of Service ${quote(service.key)}`);
    else services.set(service.key, service);
  }

  const byName = <T extends { name: string }>(a: T, b: T): number =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  const namespaceRecord: Record<string, Labels> = {};
  for (const name of [...namespaces.keys()].sort()) {
    Object.defineProperty(namespaceRecord, name, { value: namespaces.get(name), enumerable: true });
  }
  return {
    pools: addressPools.sort(byName),
    advertisements: advertisements.sort(byName),
    services: [...services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    namespaces: namespaceRecord,
  };
}

/** MetalLB's addressPoolServiceAllocationsFromCR, with namespaceSelectors resolved against Namespace objects. */
function resolveAllocation(
  pool: RawPool,
  namespaces: ReadonlyMap<string, Labels>,
  warn: (source: SourceRef | undefined, object: string | undefined, message: string) => void,
): ServiceAllocation {
  const raw = pool.serviceAllocation;
  if (!raw) throw new Error("resolveAllocation needs a serviceAllocation");
  if (
    raw.namespaces.length === 0 &&
    raw.namespaceSelectors.length === 0 &&
    raw.serviceSelectors.length === 0
  ) {
    return { priority: raw.priority, namespaces: [], serviceSelectors: [EVERYTHING] };
  }
  const allowed = new Set(raw.namespaces);
  const selectors = raw.namespaceSelectors.map((s) => s.selector);
  let matched = 0;
  if (selectors.length > 0) {
    for (const [name, labels] of namespaces) {
      if (selectorsMatchAny(selectors, labels)) {
        allowed.add(name);
        matched++;
      }
    }
    if (matched === 0) {
      warn(
        raw.source,
        pool.object,
        raw.namespaces.length === 0 && raw.serviceSelectors.length === 0
          ? "serviceAllocation.namespaceSelectors match no Namespace object, so (as in MetalLB) the pool is not pinned to any namespace"
          : "serviceAllocation.namespaceSelectors match no Namespace object",
      );
    }
  }
  return {
    priority: raw.priority,
    namespaces: [...allowed].sort(),
    serviceSelectors: raw.serviceSelectors.map((s) => s.selector),
  };
}
