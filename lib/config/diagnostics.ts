// Turning problems into lines an operator can act on: `file:line:col: severity: Kind/name: message`,
// the shape compilers use, so editors and grep can jump straight to the spot.
import type { Diagnostic, Severity, SourceRef } from "./types";

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.source ? `${d.source.file}:${d.source.line}:${d.source.column}: ` : "";
  const what = d.object ? `${d.object}: ` : "";
  return `${where}${d.severity}: ${what}${d.message}`;
}

export function diagnostic(
  severity: Severity,
  message: string,
  source?: SourceRef,
  object?: string,
): Diagnostic {
  return {
    severity,
    message,
    ...(source ? { source } : {}),
    ...(object !== undefined ? { object } : {}),
  };
}

export const hasErrors = (diagnostics: readonly Diagnostic[]): boolean =>
  diagnostics.some((d) => d.severity === "error");

/** Stable report order: by file, line, column, then errors before warnings, then text. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  const fa = a.source?.file ?? "";
  const fb = b.source?.file ?? "";
  if (fa !== fb) return fa < fb ? -1 : 1;
  const la = a.source?.line ?? 0;
  const lb = b.source?.line ?? 0;
  if (la !== lb) return la - lb;
  const ca = a.source?.column ?? 0;
  const cb = b.source?.column ?? 0;
  if (ca !== cb) return ca - cb;
  if (a.severity !== b.severity) return a.severity === "error" ? -1 : 1;
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
}

/** Go's `%q` for the plain strings config errors quote; JSON escaping agrees with it for printable text. */
export const quote = (s: string): string => JSON.stringify(s);

/** Go's `%q` of a []string: `["a" "b"]`. */
export const quoteList = (items: readonly string[]): string => `[${items.map(quote).join(" ")}]`;
