#!/bin/sh
# Builds the Debian package: dist/package/vipd_<version>_<arch>.deb (`npm run package`).
#
# The tree is what scripts/install.sh stages with DESTDIR (program and production node_modules under /opt/vipd,
# this machine's node binary as /opt/vipd/bin/node, /usr/bin/vipd, the sysusers entry, the default config),
# moved where Debian wants it (the unit in /lib/systemd/system), plus the docs, the examples and the
# maintainer scripts of debian/. Needs dpkg-deb (dpkg), strip (binutils) and a built checkout (npm ci).
#
# Environment: VIPD_VERSION_SUFFIX (appended to package.json's version, e.g. `+lab2`, for a newer build of
# the same source), NODE (the node binary to bundle), VIPD_NO_BUILD=1 (use the existing dist/),
# OUT_DIR (default dist/package), DEB_COMPRESSION (dpkg-deb -Z: gzip by default, none, xz).
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${OUT_DIR:-$SRC/dist/package}
die() { printf 'vipd package: %s\n' "$*" >&2; exit 1; }
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"
command -v strip >/dev/null 2>&1 || die "strip not found (apt-get install binutils)"

UPSTREAM=$(node -p 'require(process.argv[1]).version' "$SRC/package.json")
VERSION="$UPSTREAM${VIPD_VERSION_SUFFIX:-}"
ARCH=$(dpkg --print-architecture)
# Reproducible dates: the last commit's, else now.
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}

if [ "${VIPD_NO_BUILD:-}" != 1 ]; then
  (cd "$SRC" && npm run build --silent)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
DESTDIR="$ROOT" VIPD_NO_BUILD=1 VIPD_BUNDLE_NODE=1 sh "$SRC/scripts/install.sh" >/dev/null

# Debian's place for a package's units; /etc/systemd/system is the administrator's.
mkdir -p "$ROOT/lib/systemd/system"
mv "$ROOT/etc/systemd/system/vipd.service" "$ROOT/lib/systemd/system/vipd.service"
rm -rf "$ROOT/etc/systemd"

# No prebuilds for other CPUs or libcs; native code without its symbol tables (node alone drops ~10 MB).
rm -rf "$ROOT/opt/vipd/node_modules/netlink/prebuilds/linux-arm" \
  "$ROOT/opt/vipd/node_modules/netlink/prebuilds/linux-arm64" \
  "$ROOT/opt/vipd/node_modules/netlink/prebuilds/linux-ia32" \
  "$ROOT/opt/vipd/node_modules/@koromix/koffi-linux-x64/musl_x64"
rm -rf "$ROOT/opt/vipd/node_modules/raw-socket/build/Release/obj.target" \
  "$ROOT/opt/vipd/node_modules/raw-socket/build/Release/.deps"
# Type declarations and npm's packing leftovers are no use at run time.
find "$ROOT/opt/vipd/node_modules" -depth -type d -name '@types' -exec rm -rf {} +
find "$ROOT/opt/vipd/node_modules" -name '.npmignore' -delete
strip --strip-unneeded "$ROOT/opt/vipd/bin/node"
find "$ROOT/opt/vipd/node_modules" -name '*.node' -exec strip --strip-unneeded {} +

DOC="$ROOT/usr/share/doc/vipd"
mkdir -p "$DOC/examples" "$ROOT/usr/share/lintian/overrides"
cp "$SRC/README.md" "$DOC/README.md"
cp "$SRC/docs/examples/pools.yaml" "$DOC/examples/pools.yaml"
cp "$SRC/debian/copyright" "$DOC/copyright"
DATE=$(date -u -R -d "@$EPOCH")
printf 'vipd (%s) unstable; urgency=medium\n\n  * Built from the vipd source tree by scripts/package.sh.\n\n -- vipd maintainers <vipd@example.org>  %s\n' \
  "$VERSION" "$DATE" | gzip -9n >"$DOC/changelog.gz"
cp "$SRC/debian/lintian-overrides" "$ROOT/usr/share/lintian/overrides/vipd"

mkdir -p "$ROOT/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$SRC/debian/$script" "$ROOT/DEBIAN/$script"
done
# Every file under /etc is the administrator's: dpkg keeps their edits on upgrade and removes them on purge.
(cd "$ROOT" && find etc -type f | sort | sed 's|^|/|') >"$ROOT/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" "$SRC/debian/control" >"$ROOT/DEBIAN/control"

# Modes: directories 0755, files 0644 (npm tarballs mark many plain files executable), the two programs in
# /opt/vipd/bin 0755, the config 0640 in a 0750 folder; postinst gives it to group vipd, which does not exist
# on the build machine.
find "$ROOT" -path "$ROOT/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
find "$ROOT" -path "$ROOT/DEBIAN" -prune -o -type f -exec chmod 0644 {} +
chmod 0755 "$ROOT/opt/vipd/bin/node" "$ROOT/opt/vipd/bin/vipd"
chmod 0750 "$ROOT/etc/vipd"
chmod 0640 "$ROOT"/etc/vipd/*
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +

mkdir -p "$OUT_DIR"
DEB="$OUT_DIR/vipd_${VERSION}_${ARCH}.deb"
# gzip: several times faster to build than xz for the ~100 MB tree, and every dpkg reads it. The lab test
# builds with DEB_COMPRESSION=none: the same package, built in seconds instead of minutes on a busy machine.
SOURCE_DATE_EPOCH=$EPOCH dpkg-deb --root-owner-group "-Z${DEB_COMPRESSION:-gzip}" --build "$ROOT" "$DEB" >/dev/null
printf '%s\n' "$DEB"
