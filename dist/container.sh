#!/usr/bin/env bash
# Builds the trailproof container image (deploy/container/Containerfile) from a built binary,
# with podman and without any base image: nothing is pulled from a registry.
#
#   dist/container.sh [--binary PATH] [--tag REF]
#
#   --binary PATH  the trailproof binary to package (default target/release/trailproof; CI
#                  packages the test build's target/debug/trailproof)
#   --tag REF      the image's name (default trailproof:VERSION, VERSION from `PATH --version`)
#
# Prints the image's name and size. dist/container-check.sh checks it; `podman push` publishes
# it (README, "Container image").
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=dist/container-lib.sh
. dist/container-lib.sh

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; }
parse_args "$@"
[ -x "$BINARY" ] || die "$BINARY: no such executable (cargo build --release -p trailproof-cli, or --binary PATH)"
CERTS=/etc/ssl/certs/ca-certificates.crt
[ -s "$CERTS" ] || die "$CERTS missing: apt-get install -y ca-certificates"
if ! command -v podman >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "podman missing: apt-get install -y podman (as root)"
  echo "container.sh: installing podman" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
fi

VERSION=$(binary_version "$BINARY")
COMMIT=$(binary_commit "$BINARY")
TAG=${TAG:-trailproof:$VERSION}
LIBS=$(linked_files "$BINARY")

# The modes the image gets are the context's: set them, whatever the caller's umask.
umask 022
CONTEXT=$(mktemp -d "${TMPDIR:-/tmp}/trailproof-image.XXXXXX")
trap 'rm -rf "$CONTEXT"' EXIT
FS=$CONTEXT/rootfs
install -D -m 0755 "$BINARY" "$FS/usr/local/bin/trailproof"
# Each library at the path ldd found it at (the loader at the path the binary names), copied
# through symlinks: the image has no /lib → /usr/lib link to follow.
for lib in $LIBS; do
  install -D -m 0755 "$lib" "$FS$lib"
done
install -D -m 0644 "$CERTS" "$FS$CERTS"
mkdir -p "$FS/etc" "$FS/tmp" "$FS/home" "$CONTEXT/home${TRAILPROOF_HOME#/home}"
chmod 1777 "$FS/tmp"
chmod 0700 "$CONTEXT/home${TRAILPROOF_HOME#/home}"
# The user's name, home and groups for whatever looks them up (glibc's getpwuid, `id`, ps on
# the host); root is there so that files it owns show a name too. No passwords: no shadow file.
cat >"$FS/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
trailproof:x:$TRAILPROOF_UID:$TRAILPROOF_GID:trailproof:$TRAILPROOF_HOME:/sbin/nologin
PASSWD
cat >"$FS/etc/group" <<GROUP
root:x:0:
trailproof:x:$TRAILPROOF_GID:
GROUP
# Names from files first, then DNS (hostAliases and --add-host entries win); glibc ≥ 2.34 has
# both modules built in, so no libnss_*.so is needed.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$FS/etc/nsswitch.conf"
chmod 0644 "$FS"/etc/passwd "$FS"/etc/group "$FS"/etc/nsswitch.conf
cp deploy/container/Containerfile "$CONTEXT/Containerfile"

# A rebuild under the same tag leaves the previous image unnamed: removed below, if nothing else
# uses it, so that CI's runs do not pile up images.
OLD_ID=$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
BUILD=(podman build --pull=never --layers=false --tag "$TAG" --file "$CONTEXT/Containerfile"
  --label "org.opencontainers.image.title=trailproof"
  --label "org.opencontainers.image.version=$VERSION")
[ -z "$COMMIT" ] || BUILD+=(--label "org.opencontainers.image.revision=$COMMIT")
# With SOURCE_DATE_EPOCH the same inputs give the same image id (files and creation dated by it).
[ -z "${SOURCE_DATE_EPOCH:-}" ] || BUILD+=(--timestamp "$SOURCE_DATE_EPOCH")
"${BUILD[@]}" "$CONTEXT"
NEW_ID=$(podman image inspect --format '{{.Id}}' "$TAG")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
  podman rmi "$OLD_ID" >/dev/null 2>&1 || true
fi

SIZE=$(podman image inspect --format '{{.Size}}' "$TAG")
BIN_SIZE=$(stat -c %s "$BINARY")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "image: $TAG (${NEW_ID:0:12}) from $BINARY ($VERSION${COMMIT:+, commit $COMMIT})"
echo "image size: $(mib "$SIZE") ($SIZE bytes; the binary $(mib "$BIN_SIZE"))"
