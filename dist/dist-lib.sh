# Shared by dist/build.sh, dist/check.sh and dist/wheel.sh: their messages, the target dir and
# their options. Sourced from the repository's root, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are the sourcing scripts'

die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
# The sourcing script's opening comment, without its shebang.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
TRIPLE=x86_64-unknown-linux-gnu

# dist_args [--glibc-option] "$@": sets OUT (--out DIR, default TARGET/dist) and, when the
# script takes it, GLIBC (--glibc VERSION, default 2.17, the manylinux2014 baseline).
dist_args() {
  local glibc_option=0
  if [ "${1:-}" = --glibc-option ]; then glibc_option=1; shift; fi
  OUT=$TARGET/dist
  GLIBC=2.17
  while [ $# -gt 0 ]; do
    case $1 in
      --out) OUT=${2:?--out needs a folder}; shift 2 ;;
      --glibc) [ "$glibc_option" = 1 ] || { usage >&2; die "unknown argument $1"; }
        GLIBC=${2:?--glibc needs a version}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument $1" ;;
    esac
  done
}
