// journald priorities and fields: the event -> level table, the native entry encoding (decoded back here as
// journald would), the `<N>` fallback, the JOURNAL_STREAM check, and a datagram through a real socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventLevel } from "../../lib/daemon/event-level";
import {
  encodeJournalEntry,
  JournalSocket,
  journalFieldName,
  stderrIsJournal,
} from "../../lib/daemon/journal";
import {
  createJournalLogger,
  LOG_BUFFER_BYTES,
  stderrText,
  SYSLOG_PRIORITY,
  type LogLevel,
} from "../../lib/daemon/log";
import { NotifyReceiver } from "../lab/notify-receiver";

/** journald's parser for the native protocol: plain `KEY=value` lines and the binary length form. */
function decodeJournalEntry(datagram: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < datagram.length) {
    const newline = datagram.indexOf(0x0a, at);
    const line = datagram.subarray(at, newline).toString("utf8");
    const eq = line.indexOf("=");
    if (eq >= 0) {
      fields.set(line.slice(0, eq), line.slice(eq + 1));
      at = newline + 1;
    } else {
      const length = Number(datagram.readBigUInt64LE(newline + 1));
      const start = newline + 9;
      fields.set(line, datagram.subarray(start, start + length).toString("utf8"));
      assert.equal(datagram[start + length], 0x0a, "binary value ends with a newline");
      at = start + length + 1;
    }
  }
  return fields;
}

function capture(minLevel: LogLevel = "info", failing = false) {
  const entries: Array<Map<string, string>> = [];
  const fallback: string[] = [];
  const logger = createJournalLogger(
    {
      send(datagram) {
        if (failing) throw new Error("sendto failed: ENOENT");
        entries.push(decodeJournalEntry(datagram));
      },
    },
    { write: (s: string) => fallback.push(s) },
    minLevel,
  );
  return { logger, entries, fallback };
}

test("syslog priorities: warn is warning (4), error is err (3), critical is crit (2)", () => {
  assert.deepEqual(SYSLOG_PRIORITY, { debug: 7, info: 6, warn: 4, error: 3, critical: 2 });
});

test("events: dead members, quorum loss, conflicts, failed addresses and rejected configs are warning or worse", () => {
  const table: Array<[string, LogLevel]> = [
    ["memberDead", "warn"],
    ["quorumLost", "warn"],
    ["addressConflict", "warn"],
    ["addressFailed", "warn"],
    ["configInvalid", "error"],
    ["healthCheckFailing", "warn"],
    ["announceWithdrawn", "warn"],
    ["memberJoin", "info"],
    ["memberLeave", "info"],
    ["quorumRegained", "info"],
    ["addressConflictResolved", "info"],
    ["configLoaded", "info"],
    ["nodeAssigned", "info"],
  ];
  for (const [reason, level] of table) assert.equal(eventLevel(reason), level, reason);
});

test("journal field names: camelCase to upper snake case; names journald would reject are dropped", () => {
  const table: Array<[string, string | undefined]> = [
    ["ip", "IP"],
    ["service", "SERVICE"],
    ["ownerNode", "OWNER_NODE"],
    ["pool-name", "POOL_NAME"],
    ["_trusted", undefined],
    ["9lives", undefined],
    ["", undefined],
    ["x".repeat(65), undefined],
  ];
  for (const [key, name] of table) assert.equal(journalFieldName(key), name, key);
});

test("a native entry: MESSAGE, PRIORITY, identifier, EVENT and the fields as IP= and SERVICE=", () => {
  const { logger, entries, fallback } = capture();
  logger.log("warn", "addressConflict", "198.51.100.60 is held by 02:00:00:00:02:00", {
    ip: "198.51.100.60",
    service: "default/web",
    count: 2,
    skipped: undefined,
  });
  assert.equal(fallback.length, 0);
  assert.equal(entries.length, 1);
  const entry = entries[0]!;
  assert.equal(entry.get("PRIORITY"), "4");
  assert.equal(entry.get("SYSLOG_IDENTIFIER"), "vipd");
  assert.equal(entry.get("EVENT"), "addressConflict");
  assert.equal(entry.get("IP"), "198.51.100.60");
  assert.equal(entry.get("SERVICE"), "default/web");
  assert.equal(entry.get("COUNT"), "2");
  assert.equal(entry.has("SKIPPED"), false);
  assert.equal(
    entry.get("MESSAGE"),
    "addressConflict: 198.51.100.60 is held by 02:00:00:00:02:00  ip=198.51.100.60 service=default/web count=2",
  );
});

test("a value with newlines uses the binary form and arrives whole; below minLevel nothing is sent", () => {
  const { logger, entries } = capture("warn");
  logger.log("info", "configLoaded", "not sent");
  logger.log("error", "configInvalid", "pools.yaml:3:1: bad\nsecond line", { detail: "a\nb" });
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.get("PRIORITY"), "3");
  assert.equal(entries[0]!.get("DETAIL"), "a\nb");
  assert.match(entries[0]!.get("MESSAGE")!, /^configInvalid: pools\.yaml:3:1: bad\nsecond line/);
  const plain = encodeJournalEntry([["A", "x=y"]]).toString();
  assert.equal(plain, "A=x=y\n");
});

test("when the socket refuses an entry it goes to the stream with its <N> prefix on every line", () => {
  const { logger, fallback } = capture("info", true);
  logger.log("critical", "gossipFailed", "thread died\nstack", { ip: "198.51.100.1" });
  assert.equal(fallback.join(""), "<2>gossipFailed: thread died\n<2>stack  ip=198.51.100.1\n");
});

test("stderrText: <N> prefixes only when stderr is the journal", () => {
  assert.equal(stderrText("error", "a.yaml:1:1: bad\nmore", true), "<3>a.yaml:1:1: bad\n<3>more\n");
  assert.equal(stderrText("warn", "note\n", true), "<4>note\n");
  assert.equal(stderrText("error", "a.yaml:1:1: bad", false), "a.yaml:1:1: bad\n");
});

test("stderrIsJournal: JOURNAL_STREAM must name stderr's own device and inode", () => {
  const probe = `const { stderrIsJournal } = require(${JSON.stringify(join(__dirname, "../../lib/daemon/journal.js"))});
const { fstatSync } = require("node:fs");
const st = fstatSync(2, { bigint: true });
process.stdout.write(JSON.stringify([
  stderrIsJournal({ JOURNAL_STREAM: st.dev + ":" + st.ino }),
  stderrIsJournal({ JOURNAL_STREAM: st.dev + ":" + (st.ino + 1n) }),
  stderrIsJournal({}),
]));`;
  const result = spawnSync(process.execPath, ["-e", probe], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [true, false, false]);
  assert.equal(stderrIsJournal({}), false);
});

test("stderr to a pipe or a socket is widened, so a takeover's burst of lines does not wait for the reader", () => {
  const log = join(__dirname, "../../lib/daemon/log.js");
  const libcModule = join(__dirname, "../../lib/net/libc.js");
  // 600 KiB in one write returns at once though nobody reads stderr until the child has exited (a 64 KiB pipe
  // or a ~200 KiB socket would block for ever); stdout goes to a file, which is left alone.
  const probe = `const log = require(${JSON.stringify(log)});
const { libc } = require(${JSON.stringify(libcModule)});
const pipeBefore = libc().fcntl(0, log.F_GETPIPE_SZ, 0);
const widened = log.widenLogOutput(2);
const alsoPipe = log.widenLogOutput(0);
const notWidened = log.widenLogOutput(1);
process.stderr.write("x".repeat(600 << 10));
process.stdout.write(JSON.stringify([pipeBefore, alsoPipe ?? null, widened ?? null, notWidened ?? null]));`;
  const dir = mkdtempSync(join(tmpdir(), "vipd-pipe-"));
  try {
    const out = join(dir, "out");
    // stdin a real pipe (from the shell), stderr the socket pair Node gives a child, stdout a file.
    const result = spawnSync(
      "sh",
      ["-c", `: | "$0" -e "$1" > "$2"; cat "$2"`, process.execPath, probe, out],
      { encoding: "utf8", timeout: 20_000, maxBuffer: 1 << 21 },
    );
    assert.equal(result.status, 0, result.stderr.slice(0, 500));
    const [pipeBefore, pipeAfter, socketAfter, file] = JSON.parse(result.stdout) as Array<number | null>;
    assert.equal(pipeBefore, 65536);
    assert.equal(pipeAfter, LOG_BUFFER_BYTES);
    // The kernel reports a socket's send buffer doubled.
    assert.ok((socketAfter ?? 0) >= LOG_BUFFER_BYTES, `socket send buffer ${socketAfter}`);
    assert.equal(file, null);
    assert.equal(result.stderr.length, 600 << 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("JournalSocket delivers one datagram per entry to a listening socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-journal-"));
  const receiver = new NotifyReceiver(join(dir, "journal.sock"));
  const socket = new JournalSocket(receiver.path);
  try {
    createJournalLogger(socket, { write: () => assert.fail("no fallback expected") }).log(
      "warn",
      "memberDead",
      "node2 (198.51.100.2:7946) is dead",
      { ip: "198.51.100.2" },
    );
    await receiver.waitFor("the entry", () => receiver.messages.length > 0, 2000);
    const fields = receiver.messages[0]!.fields;
    assert.equal(fields.get("PRIORITY"), "4");
    assert.equal(fields.get("EVENT"), "memberDead");
    assert.equal(fields.get("IP"), "198.51.100.2");
  } finally {
    socket.close();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => socket.send(Buffer.from("A=1\n")), /closed/);
});
