// The I/O of health checks: one attempt of a TCP connect, an HTTP GET or a program run, each bounded by a
// timeout and all asynchronous, so a hung service never blocks the event loop.
import { spawn } from "node:child_process";
import { get as httpGet } from "node:http";
import { connect } from "node:net";
import type { CheckResult } from "./state";
import type { HealthTarget } from "./spec";

/** Output kept from an exec check, for its failure detail; the rest is discarded as it arrives. */
const EXEC_OUTPUT_LIMIT = 4096;

export function runCheck(target: HealthTarget, timeoutMs: number): Promise<CheckResult> {
  switch (target.kind) {
    case "tcp":
      return tcpCheck(target.host, target.port, timeoutMs);
    case "http":
      return httpCheck(target.url, timeoutMs);
    case "exec":
      return execCheck(target.path, target.args, timeoutMs);
  }
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ ok: false, detail: `connect timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once("connect", () => done({ ok: true }));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `connect ${error.code ?? error.message}` }),
    );
  });
}

function httpCheck(url: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = httpGet(
      url,
      { agent: false, headers: { "user-agent": "vipd-health-check" } },
      (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        done(status >= 200 && status < 300 ? { ok: true } : { ok: false, detail: `HTTP ${status}` });
      },
    );
    const timer = setTimeout(
      () => done({ ok: false, detail: `no response within ${timeoutMs} ms` }),
      timeoutMs,
    );
    request.once("error", (error: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `${error.code ?? error.message}` }),
    );
  });
}

function execCheck(path: string, args: readonly string[], timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    let output = "";
    let settled = false;
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-EXEC_OUTPUT_LIMIT);
    };
    const child = spawn(path, [...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    const done = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      // The whole process group, so a shell script's children do not outlive the check.
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      done({ ok: false, detail: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", (error: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `${error.code ?? error.message}` }),
    );
    child.once("close", (code, signal) => {
      if (code === 0) return done({ ok: true });
      const last = output.trim().split("\n").pop()?.slice(0, 200) ?? "";
      const how = signal ? `killed by ${signal}` : `exit status ${code}`;
      done({ ok: false, detail: last ? `${how}: ${last}` : how });
    });
  });
}
