#!/bin/sh
# Installs a built vipd: the program under /opt/vipd (compiled dist/, production node_modules,
# package.json), a `vipd` command, the systemd unit, the `vipd` system user and the default config (it
# announces nothing until the operator fills /etc/vipd/pools.yaml). Prefer the Debian package on Debian and
# Ubuntu (`npm run package`); this script is for other distributions and for building that package.
#
#   sudo scripts/install.sh                 install or upgrade (restarts a running vipd)
#   sudo scripts/install.sh --uninstall     remove the program and unit; /etc/vipd and /var/lib/vipd stay
#   DESTDIR=/tmp/root scripts/install.sh    stage into a directory tree (packaging, tests): no user, no systemctl
#
# /etc/vipd is never overwritten: the example config is copied only when the folder does not exist yet.
# Environment: DESTDIR, NODE (the node binary to run vipd with; default: the one on PATH),
# VIPD_NO_BUILD=1 (use the existing dist/ instead of running `npm run build`), VIPD_BUNDLE_NODE=1 (copy
# the node binary to /opt/vipd/bin/node even when it is outside /root and /home).
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=/opt/vipd
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/vipd

say() { printf 'vipd install: %s\n' "$*"; }
die() { printf 'vipd install: %s\n' "$*" >&2; exit 1; }

# Only acts on the live system: never with DESTDIR, and only when systemd is the running init.
systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

uninstall() {
  if systemd_running; then
    systemctl disable --now vipd.service || true
  fi
  rm -rf "$DESTDIR$PREFIX" "$DESTDIR$UNIT_DIR/vipd.service" "$DESTDIR/usr/lib/sysusers.d/vipd.conf"
  if [ -L "$DESTDIR/usr/bin/vipd" ]; then rm -f "$DESTDIR/usr/bin/vipd"; fi
  if systemd_running; then systemctl daemon-reload; fi
  say "removed $PREFIX and the unit; kept $CONF_DIR and /var/lib/vipd (remove them, and the vipd user, by hand)"
}

if [ "${1:-}" = "--uninstall" ]; then
  uninstall
  exit 0
fi
[ $# -eq 0 ] || die "unknown argument $1 (usage: install.sh [--uninstall])"

# The node binary. ProtectHome= hides /root and /home from the service, so a node installed there (nvm)
# is copied next to vipd instead of being referenced.
NODE=${NODE:-$(command -v node || true)}
[ -n "$NODE" ] || die "node not found on PATH (set NODE=/path/to/node)"
NODE=$(readlink -f "$NODE")

if [ "${VIPD_NO_BUILD:-}" != 1 ]; then
  (cd "$SRC" && npm run build --silent)
fi
[ -f "$SRC/dist/daemon/vipd.js" ] || die "$SRC/dist/daemon/vipd.js is missing: build first (npm run build)"
[ -d "$SRC/node_modules" ] || die "$SRC/node_modules is missing: run npm ci first"

# Stage the whole program next to its final place, then swap, so a running vipd never sees half a tree.
TARGET="$DESTDIR$PREFIX"
STAGE="$TARGET.new.$$"
mkdir -p "$(dirname "$TARGET")"
rm -rf "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/dist" "$STAGE/bin"
cp -R "$SRC/dist/daemon" "$SRC/dist/lib" "$STAGE/dist/"
find "$STAGE/dist" -name '*.map' -exec rm -f {} +
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$STAGE/"
cp -R "$SRC/systemd" "$SRC/etc" "$STAGE/"
cp -R "$SRC/node_modules" "$STAGE/"
# Offline: drops the dev dependencies from the copied tree, keeps the native builds of the others.
(cd "$STAGE" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
find "$STAGE/node_modules" -depth -type d -empty -delete

# VIPD_BUNDLE_NODE=1 (scripts/package.sh) always copies it: the .deb carries its own Node 20.
case "${VIPD_BUNDLE_NODE:-}:$NODE" in
  1:* | *:/root/* | *:/home/*)
    cp "$NODE" "$STAGE/bin/node"
    RUN_NODE="$PREFIX/bin/node"
    ;;
  *) RUN_NODE=$NODE ;;
esac
# --max-semi-space-size: V8 grows the young generation to 32 MB under vipd's steady per-VIP garbage; 4 MB
# semi-spaces cost a few more short scavenges and keep ~25 MB of RSS off every node. V8 reads it only when it
# creates the heap; the entry sets it back to its default then. The daemon sets its other heap flags itself
# at run time (lib/daemon/heap-mode.ts: --optimize-for-size in steady state, V8's defaults during a
# start-up, reload or takeover).
# --single-threaded-gc: every isolate collects its own heap on its own thread, with no V8 helper thread.
# With helpers, the gossip thread's collector waited for a helper busy with the main heap (and spun, at
# real-time priority, while it waited): 30-40 % of a core for seconds after start-up, and on a 10,000-VIP
# start-up members suspected for nothing. It also costs less CPU in all on the 1-2 cores vipd's hosts give
# it (docs/design.md, round 21). V8 reads it only at start (setting it later aborts the process). The price:
# V8 accepts a code cache only under the flags it was made with, so Node's own built-in modules, whose cache
# was made under V8's defaults, are compiled from source (~20 ms in the main thread and in each worker's
# bootstrap); the bundle's own cache is made under these flags (scripts/bundle.js).
# MALLOC_ARENA_MAX=2: glibc gives every thread that mallocs (V8's GC and compiler helpers, the gossip and
# config threads) an arena of its own, each keeping freed memory; two arenas (1,000 VIPs, one node: RSS
# 92 -> 87 MB; idle 73 -> 71.5 MB). Node allocates little with malloc, so the shared arenas cost no
# measurable CPU. --v8-pool-size=1 (a Node flag, not V8's): one V8 helper thread (Node
# starts four), left with the optimizing compiler's jobs; vipd's hosts give it a core or two, and each helper kept
# memory of its own (1,000 VIPs, one node: RSS 81.2-82.7 -> 79.4-80.2 MB, anonymous 35 -> 33 MB, CPU within
# noise).
cat >"$STAGE/bin/vipd" <<EOF
#!/bin/sh
export MALLOC_ARENA_MAX=2
exec $RUN_NODE --max-semi-space-size=4 --single-threaded-gc --v8-pool-size=1 $PREFIX/dist/daemon/vipd.js "\$@"
EOF
chmod 0755 "$STAGE/bin/vipd"
chmod -R u=rwX,go=rX "$STAGE"

if [ -e "$TARGET" ]; then
  rm -rf "$TARGET.old"
  mv "$TARGET" "$TARGET.old"
fi
mv "$STAGE" "$TARGET"
rm -rf "$TARGET.old"
trap - EXIT
say "installed $PREFIX (node: $RUN_NODE)"

mkdir -p "$DESTDIR/usr/bin"
ln -sfn "$PREFIX/bin/vipd" "$DESTDIR/usr/bin/vipd"

install -D -m 0644 "$SRC/systemd/vipd.service" "$DESTDIR$UNIT_DIR/vipd.service"
install -D -m 0644 "$SRC/systemd/vipd.sysusers" "$DESTDIR/usr/lib/sysusers.d/vipd.conf"

if [ -z "$DESTDIR" ] && ! getent passwd vipd >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/vipd --shell /usr/sbin/nologin \
    --comment "vipd virtual-IP daemon" vipd
  say "created system user vipd"
fi

if [ -e "$DESTDIR$CONF_DIR" ]; then
  say "$CONF_DIR exists: left as it is"
else
  mkdir -p "$DESTDIR$CONF_DIR"
  cp "$SRC/etc/vipd/vipd.yaml" "$SRC/etc/vipd/pools.yaml" "$DESTDIR$CONF_DIR/"
  chmod 0750 "$DESTDIR$CONF_DIR"
  chmod 0640 "$DESTDIR$CONF_DIR"/*
  # The gossip key will live here: readable by the daemon's group, by nobody else.
  if [ -z "$DESTDIR" ]; then chgrp -R vipd "$CONF_DIR"; fi
  say "installed the default config in $CONF_DIR (it announces nothing until pools.yaml is filled)"
fi

if systemd_running; then
  systemctl daemon-reload
  systemctl try-restart vipd.service
  say "systemd reloaded; enable with: systemctl enable --now vipd"
fi
