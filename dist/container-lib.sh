# Shared by dist/container.sh (builds the image) and dist/container-check.sh (checks it), so that
# both derive the tag and the list of libraries from the binary the same way. Sourced, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are the sourcing scripts'

# The user the image runs as: not root, and numeric so that Kubernetes' runAsNonRoot can verify
# it without reading the image's /etc/passwd. 65532 is distroless' "nonroot", which many
# clusters' policies already allow.
TRAILPROOF_UID=65532
TRAILPROOF_GID=65532
TRAILPROOF_HOME=/home/trailproof

die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# parse_args "$@": the options both scripts take. Sets BINARY (--binary PATH, relative to the
# caller's folder CALLER_DIR; default the release build) and TAG (--tag NAME; default empty: the
# binary's version). -h prints the sourcing script's usage().
parse_args() {
  BINARY=${CARGO_TARGET_DIR:-target}/release/trailproof
  TAG=""
  while [ $# -gt 0 ]; do
    case $1 in
      --binary)
        BINARY=${2:?--binary needs a path}
        [[ $BINARY == /* ]] || BINARY=$CALLER_DIR/$BINARY
        shift 2
        ;;
      --tag) TAG=${2:?--tag needs an image name}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument $1" ;;
    esac
  done
}

# binary_version BIN: the version BIN reports ("trailproof 0.1.0 (commit …)" → 0.1.0): the tag
# names what is in the image, not what the workspace would build now.
binary_version() {
  local line name version
  line=$("$1" --version | head -n 1) || die "$1 --version failed"
  read -r name version _ <<<"$line"
  if [ "$name" != trailproof ] || [ -z "$version" ]; then
    die "unexpected --version output: $line"
  fi
  printf '%s\n' "$version"
}

# binary_commit BIN: the git commit BIN was built from, or nothing.
binary_commit() {
  "$1" --version | head -n 1 | sed -n 's/.*(commit \([0-9a-f]*\)).*/\1/p'
}

# linked_files BIN: the absolute paths of the shared libraries BIN links and of its dynamic
# loader, one a line, as ldd resolves them on this machine (nothing for a static binary). A
# library ldd cannot find stops the build: the image would not start.
linked_files() {
  local out
  out=$(ldd "$1" 2>&1) || true
  case $out in
    *"not a dynamic executable"* | *"statically linked"*) return 0 ;;
  esac
  if grep -q 'not found' <<<"$out"; then
    die "$1 links libraries this machine lacks:"$'\n'"$out"
  fi
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and the loader "/lib64/ld-linux-x86-64.so.2
  # (0x…)"; the vDSO has no file.
  awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$out" | sort -u
}
