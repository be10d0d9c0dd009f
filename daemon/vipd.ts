#!/usr/bin/env node
// The `vipd` command. Each subcommand parses its flags here and hands off to lib/; nothing else lives here.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { allocate } from "../lib/alloc/allocator";
import { readAllocationState } from "../lib/alloc/state-file";
import { buildValidateReport, renderValidateReport } from "../lib/cli/validate-report";
import { formatDiagnostic } from "../lib/config/diagnostics";
import { loadManifests } from "../lib/config/load";
import { loadSettings, type SettingsFlags } from "../lib/config/settings";
import type { Diagnostic } from "../lib/config/types";
import { renderIpExplanation, renderStatus } from "../lib/cli/status-report";
import { Daemon } from "../lib/daemon/daemon";
import { buildInfo } from "../lib/daemon/build-info";
import { createServiceLogger, stderrText, type Logger } from "../lib/daemon/log";
import { ServiceNotifier } from "../lib/daemon/sd-notify";
import type { DaemonStatus } from "../lib/daemon/status-types";
import { generateKey } from "../lib/gossip/keyring";

const USAGE = `usage: vipd <command> [flags]

commands:
  run        start the daemon (default)
  validate   load the config and print the allocation plan; exit 1 on errors
  status     show who announces which IP, and why
  keygen     print a new gossip key for the keyring file
  version    print the version

common flags:
  --config PATH          daemon settings (default /etc/vipd/vipd.yaml)
  --node-name NAME       --bind HOST:PORT      --join HOST:PORT (repeatable, or comma-separated)
  --metrics-listen HOST:PORT                   --manifest PATH (repeatable)
  --json                 machine-readable output (validate, status)
`;

const settingsOptions = {
  config: { type: "string" },
  "node-name": { type: "string" },
  bind: { type: "string" },
  join: { type: "string", multiple: true },
  "metrics-listen": { type: "string" },
  manifest: { type: "string", multiple: true },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type ParsedSettingsFlags = ReturnType<typeof parseSettingsArgs>["values"];

function parseSettingsArgs(args: string[]) {
  return parseArgs({ args, options: settingsOptions, allowPositionals: false, strict: true });
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
  };
}

function printDiagnostics(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + "\n");
}

/** `vipd run`'s start-up diagnostics: under systemd they reach the journal as err and warning lines. */
function printRunDiagnostics(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics)
    process.stderr.write(stderrText(d.severity === "error" ? "error" : "warn", formatDiagnostic(d)));
}

function validate(args: string[]): number {
  const { values } = parseSettingsArgs(args);
  const loaded = loadSettings(settingsFlagsFrom(values));
  if (!loaded.settings) {
    printDiagnostics(loaded.diagnostics);
    return 1;
  }
  const settings = loaded.settings;
  const manifests = loadManifests(settings.manifests);
  const previous = readAllocationState(join(settings.stateDir, "allocations.json"));
  const extraWarnings: Diagnostic[] = [...loaded.diagnostics];
  if (previous.warning) extraWarnings.push({ severity: "warning", message: previous.warning });
  const allocation = manifests.config ? allocate(manifests.config, previous.state) : undefined;
  const report = buildValidateReport(manifests, allocation, extraWarnings);
  process.stdout.write(
    values.json ? JSON.stringify(report, null, 2) + "\n" : renderValidateReport(report) + "\n",
  );
  return report.ok ? 0 : 1;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseSettingsArgs(args);
  const loaded = loadSettings(settingsFlagsFrom(values));
  printRunDiagnostics(loaded.diagnostics);
  if (!loaded.settings) return 1;
  const settings = loaded.settings;
  const logger = createServiceLogger();
  const notifier = openNotifier(logger);
  const daemon = new Daemon({
    settings,
    logger,
    version: packageVersion(),
    insecure: settings.cluster.insecure,
    clusterLabel: settings.cluster.label,
    profile: settings.cluster.profile,
    notifier,
  });
  try {
    await daemon.start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notifier?.status(`failed to start: ${message.split("\n")[0]}`);
    process.stderr.write(stderrText("critical", `vipd: ${message}`));
    return 1;
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
    const notifier = new ServiceNotifier();
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
  const { values } = parseArgs({
    args,
    options: {
      address: { type: "string" },
      json: { type: "boolean" },
      ip: { type: "string" },
      config: { type: "string" },
    },
    strict: true,
  });
  let address = values.address;
  if (!address) {
    const loaded = loadSettings({ config: values.config });
    address = `http://${loaded.settings?.metrics.listen ?? "127.0.0.1:7472"}`;
  }
  let body: DaemonStatus;
  try {
    const response = await fetch(new URL("/status", address), { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as DaemonStatus;
  } catch (error) {
    process.stderr.write(`vipd status: cannot reach the daemon at ${address}: ${(error as Error).message}\n`);
    return 1;
  }
  if (values.json) process.stdout.write(JSON.stringify(body, null, 2) + "\n");
  else if (values.ip) process.stdout.write(renderIpExplanation(body, values.ip) + "\n");
  else process.stdout.write(renderStatus(body) + "\n");
  return 0;
}

function packageVersion(): string {
  return buildInfo().version;
}

function versionLine(): string {
  const build = buildInfo();
  return `vipd ${build.version} (revision ${build.revision}, node ${process.versions.node})\n`;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--version") {
    process.stdout.write(versionLine());
    return 0;
  }
  const [first, ...rest] = argv;
  const command = first === undefined || first.startsWith("-") ? "run" : first;
  const args = command === first ? rest : argv;
  if (args.includes("--help") || args.includes("-h") || command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case "validate":
      return validate(args);
    case "run":
      return run(args);
    case "status":
      return status(args);
    case "keygen":
      process.stdout.write(generateKey() + "\n");
      return 0;
    case "version":
      process.stdout.write(versionLine());
      return 0;
    default:
      process.stderr.write(`vipd: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        stderrText("critical", `vipd: ${err instanceof Error ? err.message : String(err)}`),
      );
      process.exitCode = 2;
    },
  );
}
