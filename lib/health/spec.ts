// Health-check annotations on a Service: what "healthy on this node" means for it. Parsing is pure; a bad
// value is a configuration error that names the annotation.
import { parseHostPort } from "../ip";

export const HEALTH_ANNOTATION = {
  check: "vipd.io/health-check",
  interval: "vipd.io/health-interval",
  timeout: "vipd.io/health-timeout",
  rise: "vipd.io/health-rise",
  fall: "vipd.io/health-fall",
} as const;

export const HEALTH_ANNOTATIONS: readonly string[] = Object.values(HEALTH_ANNOTATION);

export type HealthTarget =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "http"; readonly url: string }
  | { readonly kind: "exec"; readonly path: string; readonly args: readonly string[] };

export interface HealthCheckSpec {
  /** The annotation's text, as status and reasons show it. */
  readonly text: string;
  readonly target: HealthTarget;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passes that turn a failing check healthy. */
  readonly rise: number;
  /** Consecutive failures that turn a healthy check failing. */
  readonly fall: number;
}

export interface HealthAnnotationError {
  readonly annotation: string;
  readonly message: string;
}

const DEFAULTS = { intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2 };

/** Undefined spec when the service has no check. Every problem is reported, each with its annotation. */
export function parseHealthCheck(annotations: Readonly<Record<string, string>>): {
  spec?: HealthCheckSpec;
  errors: HealthAnnotationError[];
} {
  const errors: HealthAnnotationError[] = [];
  const fail = (annotation: string, message: string): undefined => {
    errors.push({ annotation, message: `annotation ${annotation}: ${message}` });
    return undefined;
  };
  const text = annotations[HEALTH_ANNOTATION.check];
  if (text === undefined) {
    for (const key of HEALTH_ANNOTATIONS.slice(1)) {
      if (annotations[key] !== undefined) fail(key, `has no effect without ${HEALTH_ANNOTATION.check}`);
    }
    return { errors };
  }
  const target = parseTarget(text.trim(), (m) => fail(HEALTH_ANNOTATION.check, m));
  const duration = (key: string, fallback: number, min: number): number | undefined => {
    const raw = annotations[key];
    if (raw === undefined) return fallback;
    const ms = parseDuration(raw);
    if (ms === undefined)
      return fail(key, `${JSON.stringify(raw)} is not a duration (write e.g. "1s", "500ms", "2m")`);
    if (ms < min || ms > 3_600_000) return fail(key, `${raw} is out of range ${min}ms..1h`);
    return ms;
  };
  const count = (key: string, fallback: number): number | undefined => {
    const raw = annotations[key];
    if (raw === undefined) return fallback;
    if (!/^[0-9]+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > 100)
      return fail(key, `${JSON.stringify(raw)} is not a count in 1..100`);
    return Number(raw);
  };
  const intervalMs = duration(HEALTH_ANNOTATION.interval, DEFAULTS.intervalMs, 100);
  const timeoutMs = duration(HEALTH_ANNOTATION.timeout, DEFAULTS.timeoutMs, 10);
  const rise = count(HEALTH_ANNOTATION.rise, DEFAULTS.rise);
  const fall = count(HEALTH_ANNOTATION.fall, DEFAULTS.fall);
  if (
    errors.length > 0 ||
    !target ||
    intervalMs === undefined ||
    timeoutMs === undefined ||
    rise === undefined ||
    fall === undefined
  )
    return { errors };
  return { spec: { text: text.trim(), target, intervalMs, timeoutMs, rise, fall }, errors };
}

function parseTarget(text: string, fail: (message: string) => undefined): HealthTarget | undefined {
  if (text.startsWith("tcp://")) {
    const parsed = parseHostPort(text.slice("tcp://".length), false);
    if ("error" in parsed) return fail(parsed.error);
    return { kind: "tcp", host: parsed.host, port: parsed.port };
  }
  if (text.startsWith("http://")) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail(`${JSON.stringify(text)} is not a valid URL`);
    }
    if (url.hostname === "") return fail(`${JSON.stringify(text)} has no host`);
    return { kind: "http", url: url.toString() };
  }
  if (text.startsWith("exec:")) {
    const [path = "", ...args] = text.slice("exec:".length).trim().split(/\s+/);
    if (!path.startsWith("/")) return fail(`exec needs an absolute path, got ${JSON.stringify(path)}`);
    return { kind: "exec", path, args };
  }
  return fail(
    `${JSON.stringify(text)}: expected tcp://host:port, http://host:port/path or exec:/absolute/path`,
  );
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 };

/** `500ms`, `1s`, `1.5s`, `2m`; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? "s"] ?? 1000));
}
