#!/usr/bin/env bash
# Checks the image dist/container.sh built, without running a container (podman run needs
# cgroups these machines lack): the image's filesystem is exported and trailproof is run in it
# with chroot, as the image's user. Needs root (chroot) and the binary the image was built from.
#
#   dist/container-check.sh [--binary PATH] [--tag REF]     (the same flags as dist/container.sh)
#
# Fails (exit 1, naming each problem) unless:
#   - the image runs as 65532:65532, not root, with the entrypoint /usr/local/bin/trailproof;
#   - it holds exactly the binary (byte for byte), the libraries ldd finds for it and its loader,
#     the CA bundle, /etc/passwd, /etc/group and /etc/nsswitch.conf; no file is setuid or setgid,
#     none is writable by others but /tmp (sticky), and root owns all but the user's home;
#   - the README's quick-start `validate` of testdata/valid-sample-day, run in the exported tree
#     as 65532:65532, exits 0 with the sample's expected summary lines and nothing on stderr;
#   - two shards of that run and their merge, as the deploy/ jobs run them (no shell), print
#     the same summary lines;
#   - live mode finds the CA certificates: a `validate` against https://127.0.0.1:9 gets as far
#     as the connection (exit 2), where an image without roots panics (exit 101).
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=dist/container-lib.sh
. dist/container-lib.sh

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }
parse_args "$@"
[ -x "$BINARY" ] || die "$BINARY: no such executable (--binary PATH: the one the image was built from)"
[ "$(id -u)" = 0 ] || die "needs root, for chroot (and root's podman storage, where CI builds)"
command -v podman >/dev/null 2>&1 || die "podman missing: apt-get install -y podman"
TAG=${TAG:-trailproof:$(binary_version "$BINARY")}
podman image exists "$TAG" || die "no image $TAG: build it first (dist/container.sh --binary $BINARY)"
SAMPLE=testdata/valid-sample-day
[ -f "$SAMPLE/expected.stdout" ] || die "$SAMPLE/expected.stdout missing"

PROBLEMS=()
problem() { PROBLEMS+=("$*"); printf 'PROBLEM: %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trailproof-image-check.XXXXXX")
CONTAINER=""
cleanup() {
  [ -z "$CONTAINER" ] || podman rm --force "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# What the image says it runs.
USER_SPEC=$(podman image inspect --format '{{.Config.User}}' "$TAG")
ENTRYPOINT=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$TAG")
if [ "$USER_SPEC" = "$TRAILPROOF_UID:$TRAILPROOF_GID" ]; then
  ok "User $USER_SPEC (not root)"
else
  problem "the image's User is '${USER_SPEC}', not $TRAILPROOF_UID:$TRAILPROOF_GID (an empty User runs as root)"
fi
if [ "$ENTRYPOINT" = '["/usr/local/bin/trailproof"]' ]; then
  ok "Entrypoint $ENTRYPOINT"
else
  problem "the image's Entrypoint is $ENTRYPOINT, not [\"/usr/local/bin/trailproof\"]"
fi

# The image's filesystem, as a container of it would start with.
FS=$WORK/rootfs
mkdir "$FS"
CONTAINER=$(podman create "$TAG")
podman export "$CONTAINER" | tar -x --numeric-owner -C "$FS"
podman rm "$CONTAINER" >/dev/null
CONTAINER=""

LIBS=$(linked_files "$BINARY")
EXPECTED=$( {
  printf '%s\n' /usr/local/bin/trailproof /etc/ssl/certs/ca-certificates.crt /etc/passwd /etc/group /etc/nsswitch.conf
  [ -z "$LIBS" ] || printf '%s\n' "$LIBS"
} | sort)
ACTUAL=$(cd "$FS" && find . ! -type d -printf '/%P\n' | sort)
if [ "$ACTUAL" = "$EXPECTED" ]; then
  ok "the image holds exactly: $(tr '\n' ' ' <<<"$ACTUAL")"
else
  problem "the image's files differ from the binary, its libraries and loader, the certificates and /etc (- expected, + found):"$'\n'"$(diff <(printf '%s\n' "$EXPECTED") <(printf '%s\n' "$ACTUAL") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')"
fi
if cmp -s "$BINARY" "$FS/usr/local/bin/trailproof"; then
  ok "/usr/local/bin/trailproof is $BINARY, byte for byte"
else
  problem "/usr/local/bin/trailproof differs from $BINARY"
fi
SETID=$(cd "$FS" && find . -perm /6000 -printf '/%P %M\n')
if [ -z "$SETID" ]; then ok "no setuid or setgid file"; else problem "setuid or setgid files: $SETID"; fi
WRITABLE=$(cd "$FS" && find . -perm -0002 ! -path ./tmp -printf '/%P %M\n')
TMP_MODE=$(stat -c %a "$FS/tmp" 2>/dev/null || echo none)
if [ -z "$WRITABLE" ] && [ "$TMP_MODE" = 1777 ]; then
  ok "nothing writable by others but /tmp (mode 1777)"
else
  problem "writable by others: ${WRITABLE:-nothing}; /tmp mode $TMP_MODE (expected 1777)"
fi
NOT_ROOTS=$(cd "$FS" && find . ! -uid 0 ! -path "./${TRAILPROOF_HOME#/}" -printf '/%P %U:%G\n')
HOME_OWNER=$(stat -c %u:%g "$FS$TRAILPROOF_HOME" 2>/dev/null || echo none)
if [ -z "$NOT_ROOTS" ] && [ "$HOME_OWNER" = "$TRAILPROOF_UID:$TRAILPROOF_GID" ]; then
  ok "root owns everything but $TRAILPROOF_HOME ($HOME_OWNER)"
else
  problem "owned by others than root: ${NOT_ROOTS:-nothing}; $TRAILPROOF_HOME owned by $HOME_OWNER"
fi
if grep -q "^[a-z_][a-z0-9_-]*:x:$TRAILPROOF_UID:$TRAILPROOF_GID:[^:]*:$TRAILPROOF_HOME:" "$FS/etc/passwd" \
  && grep -q "^[a-z_][a-z0-9_-]*:x:$TRAILPROOF_GID:" "$FS/etc/group"; then
  ok "/etc/passwd and /etc/group name $TRAILPROOF_UID:$TRAILPROOF_GID"
else
  problem "/etc/passwd or /etc/group has no entry for $TRAILPROOF_UID:$TRAILPROOF_GID"
fi

# in_image ARGS...: trailproof in the exported tree, as the image's user, with a clean environment
# like a container's (HOME from /etc/passwd, as podman and Kubernetes set it) plus IMAGE_ENV.
# A run that hangs is killed, and fails the check, rather than holding CI.
IMAGE_ENV=()
in_image() {
  env -i PATH=/usr/local/bin HOME="$TRAILPROOF_HOME" "${IMAGE_ENV[@]}" \
    "$(command -v timeout)" 600 "$(command -v chroot)" \
    --userspec="$TRAILPROOF_UID:$TRAILPROOF_GID" "$FS" /usr/local/bin/trailproof "$@"
}

# The README's quick-start run, on the sample copied into the tree (read-only to the user).
cp -r "$SAMPLE" "$FS/sample"
chmod -R a+rX,go-w "$FS/sample"
set +e
in_image validate --archive /sample/archive --public-keys /sample/public-keys.json \
  --trail-arn arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events \
  --start-time 2024-03-01T00:00:00Z --end-time 2024-03-02T00:00:00Z \
  >"$WORK/sample.out" 2>"$WORK/sample.err"
STATUS=$?
set -e
echo "--- trailproof validate (the sample day) in the image, as $TRAILPROOF_UID:$TRAILPROOF_GID: exit $STATUS"
cat "$WORK/sample.out"
[ ! -s "$WORK/sample.err" ] || { echo "--- stderr"; cat "$WORK/sample.err"; }
echo "---"
[ "$STATUS" = 0 ] || problem "validate of the sample in the image exited $STATUS, not 0"
[ ! -s "$WORK/sample.err" ] || problem "validate of the sample in the image wrote to stderr"
SUMMARY=$(grep -E '^[0-9]+/[0-9]+ (digest|log) files valid$' "$SAMPLE/expected.stdout")
[ "$(wc -l <<<"$SUMMARY")" = 2 ] || die "$SAMPLE/expected.stdout lacks the two summary lines"
while IFS= read -r line; do
  if grep -qxF "$line" "$WORK/sample.out"; then ok "the run printed '$line'"; else problem "the run did not print '$line'"; fi
done <<<"$SUMMARY"

# The deploy/ jobs' way, without a shell: shards writing parts to a volume (/tmp here), then the
# merge of the named parts, the run id in TRAILPROOF_RUN_ID; it prints the single run's summary.
IMAGE_ENV=(TRAILPROOF_RUN_ID=container-check)
STATUS=0
for shard in 1 2; do
  in_image validate --archive /sample/archive --public-keys /sample/public-keys.json \
    --trail-arn arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events \
    --start-time 2024-03-01T00:00:00Z --end-time 2024-03-02T00:00:00Z \
    --shard "$shard/2" --shard-window 6h --partial '/tmp/part-{index}.json' \
    >>"$WORK/shards.out" 2>&1 || STATUS=$?
done
in_image merge /tmp/part-1.json /tmp/part-2.json >"$WORK/merge.out" 2>>"$WORK/shards.out" || STATUS=$?
IMAGE_ENV=()
MERGED=$(grep -cxF "$SUMMARY" "$WORK/merge.out" || true)
if [ "$STATUS" = 0 ] && [ "$MERGED" = 2 ]; then
  ok "two shards and their merge in the image print the same summary"
else
  problem "sharded run in the image: exit $STATUS, $MERGED of the 2 summary lines:"$'\n'"$(cat "$WORK/shards.out" "$WORK/merge.out")"
fi

# Live mode's trust store is built before the first connection: with the bundle it gets to the
# (refused) connection and the run is incomplete (exit 2); without roots the SDK panics.
IMAGE_ENV=(AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=none AWS_REGION=us-east-1
  AWS_ENDPOINT_URL=https://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true)
set +e
in_image validate --trail-arn arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events \
  --s3-bucket trail-bucket --start-time 2024-03-01T00:00:00Z --end-time 2024-03-02T00:00:00Z \
  >"$WORK/live.out" 2>&1 </dev/null
STATUS=$?
set -e
IMAGE_ENV=()
if [ "$STATUS" = 2 ] && ! grep -q 'panicked' "$WORK/live.out"; then
  ok "live mode loads the CA certificates (exit 2 at the refused connection, no panic)"
else
  problem "live mode in the image: exit $STATUS, expected 2 (a refused connection):"$'\n'"$(tail -n 5 "$WORK/live.out")"
fi

if [ ${#PROBLEMS[@]} -gt 0 ]; then
  printf '\ncontainer check of %s FAILED: %d problem(s)\n' "$TAG" "${#PROBLEMS[@]}" >&2
  printf -- '- %s\n' "${PROBLEMS[@]}" >&2
  exit 1
fi
printf '\ncontainer check of %s: ok (image size %s bytes)\n' "$TAG" "$(podman image inspect --format '{{.Size}}' "$TAG")"
