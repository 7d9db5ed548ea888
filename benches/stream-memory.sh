#!/usr/bin/env bash
# Peak memory of one trailproof binary on what issue #23 (items 1 and 2) bounds: digests read as
# streams, and the merge that holds one part at a time. Run it with the binary before a change
# and after it (TRAILPROOF_BIN) to compare; it prints a markdown table and exits non-zero if a
# run does not end as expected (or a merge does not print what the single run prints).
#
#   benches/stream-memory.sh [--only "ordinary bombs big-digest merge"]
#
# Environment: TRAILPROOF_BIN (default: $CARGO_TARGET_DIR/release/trailproof),
# TRAILPROOF_BENCH_BIN (default: …/release/trailproof-bench; only its `gen` is used). Data is
# generated into $CARGO_TARGET_DIR/bench-data/ once and reused (about 2 GB with the parts).
#
# Runs, each under GNU time (peak RSS, `%M`):
# - ordinary: the `small` trail of run.sh (24 h × 40 logs × 50 records), archive mode;
# - bombs: the same trail with its newest digest replaced, keeping its `.meta.json` sidecar, by a
#   gzip stream inflating to 1 GiB: zeros, one long string in an unknown field, one long string
#   in a field the checks read, and 1 GiB of `[` (not an object). Each is NOT CHECKED (exit 2);
# - big-digest: a trail whose newest digest lists 250,000 more entries, signed again with the
#   trail's key (run.sh --memory's), text and JSON (exit 1: the entries name missing files);
# - merge: a 100k-log trail (720 h × 139 logs, one record each) validated with --verbose in 16
#   shards of a day and 1,000 shards of an hour; the merge of the parts, text and JSON, compared
#   with the single run's output.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TP=${TRAILPROOF_BIN:-$TARGET/release/trailproof}
BENCH=${TRAILPROOF_BENCH_BIN:-$TARGET/release/trailproof-bench}
DATA=$TARGET/bench-data
ONLY="ordinary bombs big-digest merge"
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=$2; shift 2 ;;
    *) echo "usage: $0 [--only \"ordinary bombs big-digest merge\"]" >&2; exit 2 ;;
  esac
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$TP" ] || { echo "no trailproof binary at $TP" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (/usr/bin/time)" >&2; exit 1; }

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
json_field() { grep -o "\"$2\": *\"[^\"]*\"" "$1" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

echo "trailproof: \`$TP\` ($("$TP" --version 2>/dev/null || echo unknown)); $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | exit | wall | peak RSS |"
echo "|---|--:|--:|--:|"

# mem NAME EXPECTED_EXIT OUT -- COMMAND…: one row; the command's stdout goes to OUT.
mem() {
  local name=$1 want=$2 out=$3 status=0 secs rss
  shift 4
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$out" 2>"$WORK/stderr" </dev/null || status=$?
  read -r secs rss < <(tail -n1 "$WORK/time")
  printf '| %s | %s | %s s | %s MB |\n' "$name" "$status" "$secs" "$(( (rss + 1023) / 1024 ))"
  if [ "$status" != "$want" ]; then
    tail -n 5 "$out" "$WORK/stderr" >&2
    echo "$name: exit $status, expected $want" >&2
    exit 1
  fi
}

# Sets RANGE and KEYS for the trail generated in DIR.
trail_args() {
  RANGE=(--trail-arn "$(json_field "$1/trail.json" trail_arn)" --start-time "$(json_field "$1/trail.json" start)"
    --end-time "$(json_field "$1/trail.json" end)")
  cp -f "$1/archive/public-keys.json" "$1/public-keys.json"
  KEYS=(--public-keys "$1/public-keys.json")
}

if wants ordinary || wants bombs; then
  "$BENCH" gen --out "$DATA/small" --hours 24 --logs-per-hour 40 --records-per-log 50 >&2
  trail_args "$DATA/small"
fi

if wants ordinary; then
  "$TP" validate --archive "$DATA/small/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress >/dev/null # warms the page cache
  for format in text json; do
    mem "ordinary trail (958 logs), $format" 0 /dev/null -- \
      "$TP" validate --archive "$DATA/small/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format "$format"
  done
fi

if wants bombs; then
  mkdir -p "$DATA/bombs"
  python3 - "$DATA/bombs" <<'PY'
import gzip, os, sys
# name: (head, repeated piece, tail), inflating to 1 GiB in all.
shapes = {
    "zeros": (b"", b"\0", b""),
    "unknown-field": (b'{"newestEventTime":"', b"A", b'"}'),
    "kept-field": (b'{"digestS3Object":"', b"A", b'"}'),
    "brackets": (b"", b"[", b""),
}
for name, (head, piece, tail) in shapes.items():
    path = os.path.join(sys.argv[1], name + ".json.gz")
    if os.path.exists(path):
        continue
    chunk = piece * ((1 << 20) // len(piece))
    with gzip.GzipFile(path + ".tmp", "wb", compresslevel=9, mtime=0) as f:
        f.write(head)
        for _ in range((1 << 30) // len(chunk)):
            f.write(chunk)
        f.write(tail)
    os.rename(path + ".tmp", path)
PY
  newest=$(find "$DATA/small/archive" -name '*CloudTrail-Digest*.json.gz' | sort | tail -1)
  for shape in zeros unknown-field kept-field brackets; do
    rm -rf "$WORK/bomb"
    cp -al "$DATA/small/archive" "$WORK/bomb"
    target=$WORK/bomb/${newest#"$DATA/small/archive/"}
    # A new file, never a write through the hard link into the generated trail.
    rm -f "$target"
    cp "$DATA/bombs/$shape.json.gz" "$target"
    mem "digest bomb, 1 GiB inflated ($shape, $(( $(stat -c %s "$target") / 1024 )) KiB stored)" 2 /dev/null -- \
      "$TP" validate --archive "$WORK/bomb" "${KEYS[@]}" "${RANGE[@]}" --no-progress
  done
fi

if wants big-digest; then
  "$BENCH" gen --out "$DATA/big-digest" --hours 3 --logs-per-hour 10 --records-per-log 1 --big-digest-entries 250000 >&2
  trail_args "$DATA/big-digest"
  for format in text json; do
    mem "a signed digest of 250,000 entries (all missing), $format" 1 /dev/null -- \
      "$TP" validate --archive "$DATA/big-digest/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format "$format"
  done
fi

if wants merge; then
  "$BENCH" gen --out "$DATA/100k-1rec" --hours 720 --logs-per-hour 139 --records-per-log 1 >&2
  trail_args "$DATA/100k-1rec"
  ARGS=(validate --archive "$DATA/100k-1rec/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --verbose)
  for format in text json; do
    mem "single run, --verbose, $format" 0 "$WORK/single.$format" -- "$TP" "${ARGS[@]}" --format "$format"
  done
  for spec in "16 1d" "1000 1h"; do
    read -r n window <<<"$spec"
    parts=$DATA/100k-1rec-parts-$n
    export TRAILPROOF_RUN_ID="stream-memory-$n-$window"
    if [ ! -f "$parts/done" ]; then
      log "100k: $n shards of $window"
      rm -rf "$parts" && mkdir -p "$parts"
      for m in $(seq 1 "$n"); do
        "$TP" "${ARGS[@]}" --shard "$m/$n" --shard-window "$window" --partial "$parts/part-{index}.json" 2>/dev/null
      done
      touch "$parts/done"
    fi
    size=$(du -sm "$parts" | cut -f1)
    largest=$(( $(stat -c %s "$parts"/part-*.json | sort -n | tail -1) / 1024 ))
    for format in text json; do
      mem "merge --verbose of $n parts ($size MB, the largest $largest KiB), $format" 0 "$WORK/merged.$format" -- \
        sh -c 'exec "$0" merge --verbose --format "$1" "$2"/part-*.json' "$TP" "$format" "$parts"
      # The JSON report names no time of its own: the merge must print the single run's bytes.
      cmp -s "$WORK/single.$format" "$WORK/merged.$format" || { echo "$n parts, $format: the merge differs from the single run" >&2; exit 1; }
    done
  done
fi
