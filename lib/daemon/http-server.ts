// The daemon's HTTP edge: /metrics, /status, /healthz, /readyz. It only reads state through callbacks.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { DaemonStatus } from "./status-types";

export interface HttpSources {
  readonly registry: Registry;
  status(): DaemonStatus;
  /** The reconcile loop ran recently. */
  healthy(): boolean;
  /** Joined the cluster, or gave up waiting for peers. */
  ready(): boolean;
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(listen);
  if (!match) throw new Error(`invalid listen address "${listen}", want host:port`);
  return { host: match[1] ?? "", port: Number(match[2]) };
}

export async function startHttpServer(listen: string, sources: HttpSources): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    switch (path) {
      case "/metrics":
        sources.registry.metrics().then(
          (body) => send(200, sources.registry.contentType, body),
          (err: unknown) => send(500, "text/plain", `${String(err)}\n`),
        );
        return;
      case "/status":
        return send(200, "application/json", JSON.stringify(sources.status()));
      case "/healthz":
        return sources.healthy()
          ? send(200, "text/plain", "ok\n")
          : send(503, "text/plain", "reconcile loop stalled\n");
      case "/readyz":
        return sources.ready() ? send(200, "text/plain", "ready\n") : send(503, "text/plain", "joining\n");
      default:
        return send(404, "text/plain", "not found: try /metrics, /status, /healthz or /readyz\n");
    }
  });
  const { host, port } = splitHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
