// Shared builders for the config tests: small YAML documents, parsed from memory.
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { parseManifests } from "../../lib/config/manifests";
import type { Diagnostic, LoadResult } from "../../lib/config/types";

export const parse = (text: string, path = "t.yaml"): LoadResult => parseManifests([{ path, text }]);

export const errors = (r: LoadResult): Diagnostic[] => r.diagnostics.filter((d) => d.severity === "error");
export const warnings = (r: LoadResult): Diagnostic[] =>
  r.diagnostics.filter((d) => d.severity === "warning");
export const formatted = (r: LoadResult): string[] => r.diagnostics.map(formatDiagnostic);

export function pool(name: string, addresses: string[], extra = ""): string {
  return `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: ${JSON.stringify(name)}
spec:
  addresses: ${JSON.stringify(addresses)}
${extra}`;
}

export function ad(name: string, spec: string): string {
  return `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: ${name}
spec:
${spec}`;
}

export function service(
  name: string,
  opts: {
    namespace?: string;
    annotations?: Record<string, string>;
    spec?: string;
    labels?: Record<string, string>;
  } = {},
): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${opts.namespace ?? "default"}
  labels: ${JSON.stringify(opts.labels ?? {})}
  annotations: ${JSON.stringify(opts.annotations ?? {})}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
${opts.spec ?? ""}`;
}

export const docs = (...parts: string[]): string => parts.join("\n---\n");
