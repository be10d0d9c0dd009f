#!/usr/bin/env node
// The `vipd` command. Each subcommand parses its flags here and hands off to lib/; nothing else lives here.
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { SettingsFlags } from "../lib/config/settings";
import type { Diagnostic } from "../lib/config/types";
import type { Daemon } from "../lib/daemon/daemon";
import { buildInfo } from "../lib/daemon/build-info";
import type { Logger } from "../lib/daemon/log";
import type { ServiceNotifier } from "../lib/daemon/sd-notify";
import type { DaemonStatus } from "../lib/daemon/status-types";

// Each command loads only the modules it uses, when it runs: `vipd status` (scripts and probes run it in
// loops, the lab every 100 ms per node while daemons boot) then skips the YAML parsers, koffi and the
// allocator (~0.5 s of CPU per call before, measured), and `vipd run` the report renderers.
const settingsModule = () => require("../lib/config/settings") as typeof import("../lib/config/settings");
const diagnosticsModule = () =>
  require("../lib/config/diagnostics") as typeof import("../lib/config/diagnostics");
const keyFileModule = () => require("../lib/config/keyfile") as typeof import("../lib/config/keyfile");
const logModule = () => require("../lib/daemon/log") as typeof import("../lib/daemon/log");

const USAGE = `usage: vipd <command> [flags]

commands:
  run        start the daemon (what the systemd unit runs)
  validate   load the config and print the allocation plan; exit 1 on errors
  status     show who announces which IP (--ip IP: why that node), members, events, warnings
  keygen     print a new gossip key for the keyring file
  version    print the version (also: vipd --version)

\`vipd <command> --help\` describes a command's flags. A bare \`vipd\` prints this and exits 2: the daemon
starts only with \`vipd run\`, never from a typo.
`;

const SETTINGS_FLAGS = `  --config PATH            daemon settings (default /etc/vipd/vipd.yaml)
  --node-name NAME         this node's name in the cluster (default: the hostname)
  --bind HOST:PORT         gossip address (UDP; default 0.0.0.0:7946)
  --join HOST:PORT         a peer to join (repeatable, or comma-separated)
  --manifest PATH          a MetalLB manifest file or directory (repeatable; replaces the settings' list)
  --metrics-listen HOST:PORT   /metrics, /status, /healthz, /readyz (default 127.0.0.1:7472)
`;

const COMMAND_HELP: Readonly<Record<string, string>> = {
  run: `usage: vipd run [flags]

Starts the daemon in the foreground: joins the cluster, holds the VIPs this node wins, serves metrics.
SIGHUP reloads the manifests and the keyring; SIGTERM stops gracefully (VIPs are handed over).

flags:
${SETTINGS_FLAGS}  --log-level LEVEL        debug, info, warn or error (default: log.level in the settings, else info)
`,
  validate: `usage: vipd validate [flags]

Loads the settings and manifests as \`vipd run\` would, without touching the network (no root needed), and
prints pools, advertisements, each service's IP, errors and warnings. Exit 0: the config loads; 1: errors
(each names file:line:column and the object); 2: bad flags.

flags:
${SETTINGS_FLAGS}  --json                   the same report as JSON
`,
  status: `usage: vipd status [--ip IP] [--json] [--config PATH | --address URL]

Asks the local daemon (metrics.listen of the settings) who announces which IP, and prints the services,
members, health checks, recent events and warnings. Exit 1 when the daemon cannot be reached.

flags:
  --ip IP          explain one VIP: its owner and every candidate in election order, with why
  --json           the raw /status document
  --config PATH    settings file to find metrics.listen in (default /etc/vipd/vipd.yaml)
  --address URL    the daemon's HTTP address instead (e.g. http://127.0.0.1:7472)
`,
  keygen: `usage: vipd keygen

Prints a new random 256-bit gossip key (base64). Put it in the keyring file (cluster.keyFile) on every node:
  vipd keygen > /etc/vipd/gossip.key
`,
  version: `usage: vipd version   (or vipd --version)

Prints the version, the git revision it was built from and the Node.js version.
`,
};

const settingsOptions = {
  config: { type: "string" },
  "node-name": { type: "string" },
  bind: { type: "string" },
  join: { type: "string", multiple: true },
  "metrics-listen": { type: "string" },
  manifest: { type: "string", multiple: true },
  json: { type: "boolean" },
  "log-level": { type: "string" },
} as const;

/** A command-line mistake: reported with the command's help hint, exit 2. */
class UsageError extends Error {}

type ParsedSettingsFlags = ReturnType<typeof parseSettingsArgs>["values"];

function parseSettingsArgs(args: string[]) {
  try {
    return parseArgs({ args, options: settingsOptions, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function settingsFlagsFrom(values: ParsedSettingsFlags): SettingsFlags {
  return {
    config: values.config,
    nodeName: values["node-name"],
    bind: values.bind,
    join: values.join
      ?.flatMap((j) => j.split(","))
      .map((j) => j.trim())
      .filter((j) => j.length > 0),
    metricsListen: values["metrics-listen"],
    manifests: values.manifest,
    logLevel: values["log-level"],
  };
}

function printDiagnostics(diagnostics: readonly Diagnostic[]): void {
  const { formatDiagnostic } = diagnosticsModule();
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + "\n");
}

/** `vipd run`'s start-up diagnostics: under systemd they reach the journal as err and warning lines. */
function printRunDiagnostics(diagnostics: readonly Diagnostic[]): void {
  const { formatDiagnostic } = diagnosticsModule();
  const { stderrText } = logModule();
  for (const d of diagnostics)
    process.stderr.write(stderrText(d.severity === "error" ? "error" : "warn", formatDiagnostic(d)));
}

function validate(args: string[]): number {
  const { values } = parseSettingsArgs(args);
  const { loadSettings } = settingsModule();
  const { checkKeyFile } = keyFileModule();
  const { loadManifests } = require("../lib/config/load") as typeof import("../lib/config/load");
  const { readAllocationState } =
    require("../lib/alloc/state-file") as typeof import("../lib/alloc/state-file");
  const { allocate } = require("../lib/alloc/allocator") as typeof import("../lib/alloc/allocator");
  const { buildValidateReport, renderValidateReport } =
    require("../lib/cli/validate-report") as typeof import("../lib/cli/validate-report");
  const loaded = loadSettings(settingsFlagsFrom(values));
  if (!loaded.settings) {
    printDiagnostics(loaded.diagnostics);
    return 1;
  }
  const settings = loaded.settings;
  const manifests = loadManifests(settings.manifests);
  const previous = readAllocationState(join(settings.stateDir, "allocations.json"));
  const extra: Diagnostic[] = [
    ...loaded.diagnostics,
    ...checkKeyFile(settings, loaded.sources?.get("cluster.keyFile")),
  ];
  if (previous.warning) extra.push({ severity: "warning", message: previous.warning });
  const allocation = manifests.config ? allocate(manifests.config, previous.state) : undefined;
  const report = buildValidateReport(manifests, allocation, extra);
  process.stdout.write(
    values.json ? JSON.stringify(report, null, 2) + "\n" : renderValidateReport(report) + "\n",
  );
  return report.ok ? 0 : 1;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseSettingsArgs(args);
  const { loadSettings } = settingsModule();
  const { checkKeyFile } = keyFileModule();
  const { createServiceLogger, stderrText } = logModule();
  const loaded = loadSettings(settingsFlagsFrom(values));
  printRunDiagnostics(loaded.diagnostics);
  if (!loaded.settings) return 1;
  const settings = loaded.settings;
  const keyProblems = checkKeyFile(settings, loaded.sources?.get("cluster.keyFile")).filter(
    (d) => d.severity === "error",
  );
  if (keyProblems.length > 0) {
    printRunDiagnostics(keyProblems);
    return 1;
  }
  const logger = createServiceLogger(settings.log.level);
  const notifier = openNotifier(logger);
  // One vipd per host, decided before any state file, address or netlink socket is touched, and before the
  // daemon's modules load (half a second of a loaded machine's time), so a second instance exits at once.
  try {
    const { InstanceLock, checkBindsFree } =
      require("../lib/daemon/instance-lock") as typeof import("../lib/daemon/instance-lock");
    const { splitHostPort } =
      require("../lib/daemon/http-server") as typeof import("../lib/daemon/http-server");
    InstanceLock.acquire(settings.stateDir);
    await checkBindsFree(splitHostPort(settings.cluster.bind), settings.metrics.listen);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notifier?.status(`failed to start: ${message}`);
    process.stderr.write(stderrText("critical", `vipd: ${message}`));
    process.exit(1);
  }
  // The gossip thread's bootstrap (Node's start-up again in a new isolate: ~0.3 s of that thread's CPU, more
  // on a busy host) runs while this thread loads the daemon's code and then the config.
  const { bootGossipThread } =
    require("../lib/daemon/gossip-start") as typeof import("../lib/daemon/gossip-start");
  const gossipBoot = bootGossipThread();
  const { Daemon: DaemonClass } = require("../lib/daemon/daemon") as typeof import("../lib/daemon/daemon");
  const daemon: Daemon = new DaemonClass({
    settings,
    logger,
    version: packageVersion(),
    revision: buildInfo().revision,
    insecure: settings.cluster.insecure,
    clusterLabel: settings.cluster.label,
    profile: settings.cluster.profile,
    notifier,
    gossipBoot,
  });
  try {
    await daemon.start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notifier?.status(`failed to start: ${message.split("\n")[0]}`);
    process.stderr.write(stderrText("critical", `vipd: ${message}`));
    // A half-started daemon holds sockets, timers and a worker that keep Node alive: exit now, so the
    // service manager sees the failure and Restart= works, instead of a process that hangs.
    process.exit(1);
  }
  return new Promise<number>(() => {
    const stop = (signal: string): void => {
      logger.log("info", "signal", `${signal}: stopping`);
      // A graceful stop must never hang a restart: give up after the 2 s budget.
      setTimeout(() => {
        logger.log("error", "stopTimeout", "graceful stop took over 2 s, exiting");
        process.exit(1);
      }, 2000).unref();
      daemon.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.log("error", "stopFailed", String(error));
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => {
      notifier?.reloading();
      daemon.reload("SIGHUP");
      void daemon.reloadSettled().then(() => notifier?.reloaded());
    });
  });
}

/** The systemd notifier when started by systemd (NOTIFY_SOCKET set); a broken one only costs a warning. */
function openNotifier(logger: Logger): ServiceNotifier | undefined {
  try {
    const { ServiceNotifier: Notifier } =
      require("../lib/daemon/sd-notify") as typeof import("../lib/daemon/sd-notify");
    const notifier = new Notifier();
    if (!notifier.enabled) return undefined;
    const pace = notifier.watchdogPaceMs;
    logger.log(
      "info",
      "systemdNotify",
      `notifying systemd through ${notifier.transportKind}` +
        (pace === undefined ? ", no watchdog" : `, watchdog ping every ${pace} ms`),
    );
    return notifier;
  } catch (error) {
    logger.log("warn", "systemdNotify", `cannot notify systemd: ${(error as Error).message}`);
    return undefined;
  }
}

async function status(args: string[]): Promise<number> {
  let values: { address?: string; json?: boolean; ip?: string; config?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        address: { type: "string" },
        json: { type: "boolean" },
        ip: { type: "string" },
        config: { type: "string" },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { canonicalIp } = require("../lib/ip") as typeof import("../lib/ip");
  const ip = values.ip === undefined ? undefined : canonicalIp(values.ip);
  if (values.ip !== undefined && ip === undefined)
    throw new UsageError(`--ip ${JSON.stringify(values.ip)} is not an IP address`);
  let address = values.address;
  let addressFrom = "--address";
  if (!address) {
    const { loadSettings, DEFAULT_SETTINGS_PATH } = settingsModule();
    const loaded = loadSettings({ config: values.config });
    address = `http://${loaded.settings?.metrics.listen ?? "127.0.0.1:7472"}`;
    addressFrom = `metrics.listen in ${values.config ?? DEFAULT_SETTINGS_PATH}`;
  }
  let url: URL;
  try {
    url = new URL("/status", address);
  } catch {
    throw new UsageError(`--address ${JSON.stringify(address)} is not a URL (e.g. http://127.0.0.1:7472)`);
  }
  let body: DaemonStatus;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as DaemonStatus;
  } catch (error) {
    process.stderr.write(
      `vipd status: cannot reach the daemon at ${url.href}: ${fetchFailure(error)}\n` +
        `  Is vipd running on this machine? Check: systemctl status vipd; journalctl -u vipd -n 50\n` +
        `  (the address comes from ${addressFrom}; another one: vipd status --address http://HOST:PORT)\n`,
    );
    return 1;
  }
  const { renderIpExplanation, renderStatus } =
    require("../lib/cli/status-report") as typeof import("../lib/cli/status-report");
  if (values.json) process.stdout.write(JSON.stringify(body, null, 2) + "\n");
  else if (ip !== undefined) {
    process.stdout.write(renderIpExplanation(body, ip) + "\n");
    if (!body.vips.some((v) => v.ips.includes(ip))) return 1;
  } else process.stdout.write(renderStatus(body) + "\n");
  return 0;
}

/** fetch() says only "fetch failed"; the cause (ECONNREFUSED, a timeout) is what an operator can act on. */
function fetchFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return "no answer within 3 s";
  const cause = (error as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    if (code === "ECONNREFUSED") return "connection refused (nothing listens there)";
    return code ? `${code}: ${cause.message}` : cause.message;
  }
  return error.message;
}

function packageVersion(): string {
  return buildInfo().version;
}

function versionLine(): string {
  const build = buildInfo();
  return `vipd ${build.version} (revision ${build.revision}, node ${process.versions.node})\n`;
}

const COMMANDS: Readonly<Record<string, (args: string[]) => number | Promise<number>>> = {
  validate,
  run,
  status,
  keygen: (args) => {
    if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
    const { generateKey } = require("../lib/gossip/keyring") as typeof import("../lib/gossip/keyring");
    process.stdout.write(generateKey() + "\n");
    return 0;
  },
  version: () => {
    process.stdout.write(versionLine());
    return 0;
  },
};

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V") return COMMANDS.version([]);
  if (first === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (first === "--help" || first === "-h" || (first === "help" && rest.length === 0)) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === "help") {
    const help = COMMAND_HELP[rest[0] ?? ""];
    if (help === undefined) return unknownCommand(rest[0] ?? "");
    process.stdout.write(help);
    return 0;
  }
  if (first.startsWith("-")) {
    // Before 0.2 a bare \`vipd --config x\` started the daemon; now a command is required.
    process.stderr.write(
      `vipd: no command before ${first}; to start the daemon: vipd run ${argv.join(" ")}\n\n${USAGE}`,
    );
    return 2;
  }
  const command = COMMANDS[first];
  if (command === undefined) return unknownCommand(first);
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(COMMAND_HELP[first] ?? USAGE);
    return 0;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`vipd ${first}: ${error.message}\nSee: vipd ${first} --help\n`);
    return 2;
  }
}

function unknownCommand(name: string): number {
  const { didYouMean } = require("../lib/config/suggest") as typeof import("../lib/config/suggest");
  const hint = didYouMean(name, Object.keys(COMMANDS));
  process.stderr.write(
    `vipd: unknown command ${JSON.stringify(name)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}\n\n${USAGE}`,
  );
  return 2;
}

/** Runs the command line and sets the exit code: the entry point (daemon/launch.ts, or this file run directly). */
export function runCli(argv: string[]): Promise<void> {
  return main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        logModule().stderrText("critical", `vipd: ${err instanceof Error ? err.message : String(err)}`),
      );
      process.exitCode = 2;
    },
  );
}

/**
 * Loads the modules `vipd run` loads, without running anything: the build's code-cache run
 * (scripts/bundle.js) calls it after a `vipd validate`, so the daemon's module bodies are compiled into the
 * cache too.
 */
export function loadRunModules(): void {
  require("../lib/daemon/instance-lock");
  require("../lib/daemon/http-server");
  require("../lib/daemon/sd-notify");
  require("../lib/daemon/gossip-start");
  require("../lib/daemon/daemon");
}

if (require.main === module) void runCli(process.argv.slice(2));
