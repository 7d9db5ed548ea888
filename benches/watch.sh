#!/usr/bin/env bash
# `trailproof watch` end to end (issue #22's performance targets), against the local S3 server
# and CloudTrail endpoint (trailproof-testserver, run inside `trailproof-bench watch`):
#
#   latency   a trail of 240 hourly digests × 40 log files delivered hour by hour, each object
#             announced on watch's standard input (`--from-file -`) right after it is written
#             (eventTime = that moment), each digest announced again an hour later (at least
#             once delivery); median and p99 of the digest lines' `latency_seconds`.
#   RSS       the same run: 10,079 events through one watch process, VmRSS sampled at every
#             1,000 events handled; flat = last sample − sample at 2,000 ≤ 5 MB.
#   throughput  a day of a 100-chain organization trail (25 accounts × 4 regions × 24 digests,
#             10 log files each) in the server, then `watch --once --all-accounts --all-regions`
#             over a file of all 26,400 events: digests verified / wall time of the process
#             (start-up and the closing sweep of the 100 chains included), and its CPU time.
#
#   benches/watch.sh                  the full run (~5 minutes after the builds); writes
#                                     benches/results/watch.md
#   benches/watch.sh --small          CI smoke run (12 digests; 4 chains × 6 h): under a minute
#   --profile release|dev             the binaries measured (default release). dev: the test
#                                     build's (`cargo test --workspace --no-run`, a no-op after
#                                     the tests), whose workspace crates are unoptimised; its
#                                     table goes to target/bench-results/ only.
#
# Fails if any digest or sweep is not valid, a line is missing, or watch exits non-zero.
# Targets are reported (met / MISSED), not enforced: they depend on the machine and its load.
# Environment: TRAILPROOF_BIN measures another trailproof binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=full
PROFILE=release
while [ $# -gt 0 ]; do
  case "$1" in
    --small) MODE=small ;;
    --profile) PROFILE=$2; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "watch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case $PROFILE in
  release) PROFILE_DIR=release ;;
  dev) PROFILE_DIR=debug ;;
  *) echo "watch.sh: --profile release or dev, not $PROFILE" >&2; exit 2 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
RAW=$TARGET/bench-results/watch-$MODE
WORK=$TARGET/bench-watch
OUT=$ROOT/benches/results/watch.md
[ "$PROFILE" = release ] && [ "$MODE" = full ] || OUT=$RAW/watch.md
mkdir -p "$RAW" "$WORK" "$(dirname "$OUT")"
log() { printf '\n== %s\n' "$*" >&2; }

log "build ($PROFILE)"
if [ "$PROFILE" = release ]; then
  # Separately, so the trailproof binary is exactly what `cargo build --release -p trailproof-cli`
  # ships (one build would unify the bench crate's features into its dependencies).
  cargo build --release --locked -p trailproof-cli
  cargo build --release --locked -p trailproof-bench
else
  cargo test --workspace --locked --no-run
fi
TP=${TRAILPROOF_BIN:-$TARGET/$PROFILE_DIR/trailproof}
BENCH=$TARGET/$PROFILE_DIR/trailproof-bench

if [ "$MODE" = small ]; then
  LIVE=(--hours 12 --rss-every 100)
  REPLAY=(--accounts 2 --regions 2 --hours 6 --logs-per-hour 5)
else
  LIVE=(--hours 240)
  REPLAY=(--accounts 25 --regions 4 --hours 24 --logs-per-hour 10)
fi

rm -f "$RAW/rows.md"
{
  echo "# trailproof watch benchmarks: $MODE run"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'); \`benches/watch.sh$([ "$MODE" = small ] && echo ' --small')$([ "$PROFILE" = dev ] && echo ' --profile dev')\`"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') × $(nproc); $(free -g | awk '/Mem:/{print $2}') GB RAM; Linux $(uname -r)"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- binaries: $PROFILE profile$([ "$PROFILE" = release ] || echo ' (workspace crates unoptimised: figures not comparable)')"
} >"$RAW/machine.md"

log "latency and RSS: ${LIVE[*]}"
"$BENCH" watch live --trailproof "$TP" --work "$WORK/live" --results "$RAW/rows.md" "${LIVE[@]}"
log "throughput: ${REPLAY[*]}"
"$BENCH" watch replay --trailproof "$TP" --work "$WORK/replay" --results "$RAW/rows.md" "${REPLAY[@]}"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/machine.md"

{
  cat "$RAW/machine.md"
  echo
  echo "| bench | data | result | target | |"
  echo "|---|---|---|---|---|"
  cat "$RAW/rows.md"
} >"$OUT"
cat "$OUT"
echo "wrote $OUT" >&2
