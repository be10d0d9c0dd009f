// `vipd validate`: one report object, rendered either as JSON or as tables, so both forms always agree.
import type { AllocationResult } from "../alloc/types";
import { diagnostic, formatDiagnostic } from "../config/diagnostics";
import { selectorString } from "../config/selectors";
import type { Diagnostic, LoadResult } from "../config/types";
import { formatCidr } from "../ip";
import { renderTable } from "./table";
import { compareText } from "../order";

export interface ValidateReport {
  readonly ok: boolean;
  readonly files: readonly string[];
  readonly digest: string;
  readonly pools: readonly {
    name: string;
    autoAssign: boolean;
    addresses: string[];
    ipv4: { inUse: number; total: number };
    ipv6: { inUse: number; total: number };
  }[];
  readonly advertisements: readonly { name: string; pools: string[]; nodes: string; interfaces: string[] }[];
  readonly services: readonly { service: string; ips: string[]; pool: string; error: string }[];
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

export function buildValidateReport(
  load: LoadResult,
  allocation: AllocationResult | undefined,
  extra: readonly Diagnostic[] = [],
): ValidateReport {
  const config = load.config;
  const usage = new Map((allocation?.pools ?? []).map((p) => [p.pool, p]));
  const assigned = new Map((allocation?.assignments ?? []).map((a) => [a.service, a]));
  const failed = new Map((allocation?.errors ?? []).map((e) => [e.service, e.message]));
  // A service that gets no IP is an error like any other, with the file and line of the Service.
  const allocationErrors = (allocation?.errors ?? []).map((e) =>
    diagnostic("error", e.message, e.source, `Service/${e.service}`),
  );
  const all = [...load.diagnostics, ...extra, ...allocationErrors, ...(allocation?.warnings ?? [])];
  if (config && config.pools.length === 0 && load.files.length > 0)
    all.push(diagnostic("warning", `no IPAddressPool in ${load.files.join(", ")}: no service can get an IP`));
  const errors = all.filter((d) => d.severity === "error").map(formatDiagnostic);
  const warnings = all.filter((d) => d.severity === "warning").map(formatDiagnostic);
  return {
    ok: errors.length === 0,
    files: load.files,
    digest: load.digest,
    pools: (config?.pools ?? [])
      .map((p) => ({
        name: p.name,
        autoAssign: p.autoAssign,
        addresses: p.cidrs.map(formatCidr),
        ipv4: usage.get(p.name)?.ipv4 ?? { inUse: 0, total: 0 },
        ipv6: usage.get(p.name)?.ipv6 ?? { inUse: 0, total: 0 },
      }))
      .sort((a, b) => compareText(a.name, b.name)),
    advertisements: (config?.advertisements ?? []).map((ad) => ({
      name: ad.name,
      pools: [...ad.pools],
      nodes: ad.nodeSelectors.length === 0 ? "all" : ad.nodeSelectors.map(selectorString).join(" | "),
      interfaces: [...ad.interfaces],
    })),
    services: (config?.services ?? [])
      .map((s) => ({
        service: s.key,
        ips: [...(assigned.get(s.key)?.ips ?? [])],
        pool: assigned.get(s.key)?.pool ?? "",
        error: failed.get(s.key) ?? "",
      }))
      .sort((a, b) => compareText(a.service, b.service)),
    errors,
    warnings,
  };
}

export function renderValidateReport(report: ValidateReport): string {
  const sections: string[] = [];
  if (report.errors.length > 0) {
    sections.push(`ERRORS (${report.errors.length}): nothing was applied\n${report.errors.join("\n")}`);
  }
  if (report.pools.length > 0) {
    sections.push(
      renderTable(
        ["POOL", "AUTO-ASSIGN", "IPV4 USED/TOTAL", "IPV6 USED/TOTAL", "ADDRESSES"],
        report.pools.map((p) => [
          p.name,
          String(p.autoAssign),
          `${p.ipv4.inUse}/${formatCount(p.ipv4.total)}`,
          `${p.ipv6.inUse}/${formatCount(p.ipv6.total)}`,
          p.addresses.join(","),
        ]),
      ),
    );
  }
  if (report.advertisements.length > 0) {
    sections.push(
      renderTable(
        ["L2ADVERTISEMENT", "POOLS", "NODES", "INTERFACES"],
        report.advertisements.map((a) => [
          a.name,
          a.pools.join(",") || "<none>",
          a.nodes,
          a.interfaces.join(",") || "<by subnet>",
        ]),
      ),
    );
  }
  if (report.services.length > 0) {
    sections.push(
      renderTable(
        ["SERVICE", "IPS", "POOL", "ERROR"],
        report.services.map((s) => [s.service, s.ips.join(",") || "<pending>", s.pool, s.error]),
      ),
    );
  }
  if (report.warnings.length > 0)
    sections.push(`WARNINGS (${report.warnings.length})\n${report.warnings.join("\n")}`);
  if (sections.length === 0)
    sections.push(`nothing to report: ${report.files.join(", ") || "no files"} hold no objects`);
  return sections.join("\n\n");
}

function formatCount(n: number): string {
  return n < 1e9 ? String(n) : n.toExponential(2);
}
