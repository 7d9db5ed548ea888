#!/usr/bin/env bash
# The release profile's choice, measured (issue #24): for each candidate `lto` and
# `codegen-units`, a cold `cargo build --release -p trailproof-cli` in its own target dir (wall
# and CPU time), the stripped binary's size, and the speed of `trailproof validate --archive`
# on a generated week (168 h × 60 logs × 50 records, about 10,000 log files, 517 MB
# inflated): the median of --reps
# runs after one that warms the page cache, wall and CPU.
#
#   benches/profiles.sh [--variants "nolto thin fat1"] [--reps N]
#
#   nolto    no LTO (rustc's thin-local), 16 codegen units: cargo's defaults
#   thin     lto = "thin", 16 codegen units
#   fat      lto = "fat", 16 codegen units
#   fat1     lto = "fat", codegen-units = 1 (the committed choice)
#   cu1      codegen-units = 1, no LTO
#
# Writes benches/results/profiles.md; the target dirs stay in target/profiles/VARIANT (remove
# them after: about 1.5 GB each). Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac

VARIANTS="nolto thin fat1"
REPS=5
while [ $# -gt 0 ]; do
  case $1 in
    --variants) VARIANTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    -h | --help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "profiles.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { printf '[profiles %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'profiles.sh: %s\n' "$*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "GNU time missing: apt-get install -y time"

# The profile settings of a variant, as cargo's environment overrides of [profile.release].
settings() {
  case $1 in
    nolto) echo "CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16" ;;
    thin) echo "CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16" ;;
    fat) echo "CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16" ;;
    fat1) echo "CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1" ;;
    cu1) echo "CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1" ;;
    *) die "unknown variant $1 (nolto thin fat fat1 cu1)" ;;
  esac
}
describe() {
  case $1 in
    nolto) echo 'no LTO, 16 codegen units' ;;
    thin) echo '`lto = "thin"`, 16 codegen units' ;;
    fat) echo '`lto = "fat"`, 16 codegen units' ;;
    fat1) echo '`lto = "fat"`, `codegen-units = 1` (committed)' ;;
    cu1) echo 'no LTO, `codegen-units = 1`' ;;
  esac
}

DATA=$TARGET/bench-data/week
if [ ! -f "$DATA/trail.json" ]; then
  log "generate the week (168 h × 60 logs × 50 records)"
  cargo run --quiet --locked -p trailproof-bench --bin trailproof-bench -- \
    gen --out "$DATA" --hours 168 --logs-per-hour 60 --records-per-log 50
fi
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DATA/trail.json" "$1"; }
ARGS=(validate --archive "$DATA/archive" --public-keys "$DATA/archive/public-keys.json"
  --trail-arn "$(field trail_arn)" --start-time "$(field start)" --end-time "$(field end)" --no-progress)

LOGS=$(field logs)
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

OUT=benches/results/profiles.md
ROWS=()
for v in $VARIANTS; do
  dir=$TARGET/profiles/$v
  rm -rf "$dir"
  mkdir -p "$dir"
  log "$v: cold build ($(describe "$v"))"
  load=$(cut -d' ' -f1 /proc/loadavg)
  # shellcheck disable=SC2046 # the settings are words
  env $(settings "$v") CARGO_TARGET_DIR="$dir" /usr/bin/time -f '%e %U %S' -o "$dir.time" \
    cargo build --quiet --locked --release -p trailproof-cli --bin trailproof
  read -r wall user sys <"$dir.time"
  bin=$dir/release/trailproof
  size=$(stat -c %s "$bin")
  "$bin" "${ARGS[@]}" >/dev/null
  walls=() cpus=()
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f '%e %U %S' -o "$dir.run" "$bin" "${ARGS[@]}" >"$dir.out"
    grep -qx "$LOGS/$LOGS log files valid" "$dir.out" || die "$v: the week is not all valid: $(cat "$dir.out")"
    read -r w u s <"$dir.run"
    walls+=("$w")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
  done
  run_wall=$(printf '%s\n' "${walls[@]}" | median)
  run_cpu=$(printf '%s\n' "${cpus[@]}" | median)
  ROWS+=("$(printf '| %s | %s bytes (%.1f MiB) | %s s wall, %.0f s CPU (load %s at start) | %s s | %s s |' \
    "$(describe "$v")" "$(printf "%'d" "$size")" "$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" \
    "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$load" "$run_wall" "$run_cpu")")
  log "$v: ${ROWS[-1]}"
done

{
  echo "# Release profile candidates"
  echo
  echo "\`benches/profiles.sh --variants \"$VARIANTS\" --reps $REPS\`, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores."
  echo "Speed: \`trailproof validate --archive\` of the generated week ($LOGS log files, $(field inflated_bytes) bytes inflated), median of $REPS runs."
  echo
  echo "| profile | stripped binary | cold build | validate (wall) | validate (CPU) |"
  echo "|---|--:|--:|--:|--:|"
  printf '%s\n' "${ROWS[@]}"
} >"$OUT"
cat "$OUT"
