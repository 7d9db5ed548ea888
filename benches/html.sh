#!/usr/bin/env bash
# Size and browser load time of the HTML evidence report (issue #14): the 100k-log bench trail
# (720 h × 139 logs, one record per log: the page does not depend on log contents) and a
# 1,000-chain organization (500 accounts × 2 regions, one log file per hour, one modified).
# Each page is written with `validate --format html`, then opened in headless chromium
# (`--dump-dom`, network cut off) and timed against an empty page (the browser's own start).
# Writes benches/results/html.md. Options: --org-hours N (default 24).
#
# Needs: cargo, /usr/bin/chromium, GNU time. Generated data goes to $CARGO_TARGET_DIR/bench-data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ORG_HOURS=24
while [ $# -gt 0 ]; do
  case "$1" in
    --org-hours) ORG_HOURS=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "html.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=$TARGET/bench-data
OUT=$ROOT/benches/results/html.md
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DATA" "$ROOT/benches/results"

# Built one at a time: together their features unify and rebuild the AWS SDK.
cargo build --locked -q -p trailproof-cli
cargo build --locked -q -p trailproof-bench
cargo build --locked -q -p trailproof-html --example org_archive
TP=$TARGET/debug/trailproof
BENCH=$TARGET/debug/trailproof-bench

json_field() { grep -o "\"$2\": *\"[^\"]*\"" "$1" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }

# Seconds for headless chromium to load and render PAGE (median of 5).
open_time() {
  local page=$1 times=()
  for _ in 1 2 3 4 5; do
    local profile
    profile=$(mktemp -d -p "$WORK")
    /usr/bin/time -f %e -o "$WORK/t" /usr/bin/chromium --headless --no-sandbox --disable-gpu \
      --disable-dev-shm-usage --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --host-resolver-rules="MAP * ~NOTFOUND" \
      --proxy-server=http://127.0.0.1:9 --user-data-dir="$profile" --dump-dom "file://$page" \
      >"$WORK/dom" 2>/dev/null
    times+=("$(cat "$WORK/t")")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

row() { # name, page, seconds to write it
  local name=$1 page=$2 secs=$3 bytes open
  bytes=$(stat -c %s "$page")
  open=$(open_time "$page")
  printf '| %s | %.2f MB | %s s | %s s | %s s |\n' "$name" "$(echo "$bytes / 1000000" | bc -l)" \
    "$secs" "$open" "$(echo "$open - $BASE" | bc -l | sed 's/^\./0./;s/^-\./-0./')" >>"$WORK/table"
  echo "$name: $bytes bytes, browser $open s" >&2
}

printf '<!doctype html><title>empty</title>' >"$WORK/empty.html"
BASE=$(open_time "$WORK/empty.html")
: >"$WORK/table"

echo "== 100k-log trail" >&2
"$BENCH" gen --out "$DATA/html-100k" --hours 720 --logs-per-hour 139 --records-per-log 1
ARN=$(json_field "$DATA/html-100k/trail.json" trail_arn)
RANGE=(--trail-arn "$ARN" --start-time "$(json_field "$DATA/html-100k/trail.json" start)" --end-time "$(json_field "$DATA/html-100k/trail.json" end)")
# The keys beside the archive, not inside it (as run.sh does).
cp -f "$DATA/html-100k/archive/public-keys.json" "$DATA/html-100k/public-keys.json"
KEYS=(--public-keys "$DATA/html-100k/public-keys.json")
start=$(date +%s.%N)
"$TP" validate --archive "$DATA/html-100k/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format html >"$WORK/100k.html"
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc -l)")
LOGS=$(grep -o '[0-9]*/[0-9]* log files valid' "$WORK/100k.html" | head -1)
row "100k-log trail, 720 h, one chain ($LOGS)" "$WORK/100k.html" "$secs"
start=$(date +%s.%N)
"$TP" validate --archive "$DATA/html-100k/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format html --verbose >"$WORK/100k-verbose.html"
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc -l)")
row "the same with --verbose (every valid log file in the embedded report)" "$WORK/100k-verbose.html" "$secs"

echo "== 1,000-chain organization, $ORG_HOURS h" >&2
ORG=$DATA/html-org-$ORG_HOURS
if [ ! -s "$ORG/flags" ]; then
  rm -rf "$ORG"; mkdir -p "$ORG"
  "$TARGET/debug/examples/org_archive" "$ORG" 500 2 "$ORG_HOURS" >"$ORG/flags.tmp"
  mv "$ORG/flags.tmp" "$ORG/flags"
fi
read -r -a FLAGS <"$ORG/flags"
start=$(date +%s.%N)
set +e
"$TP" validate --archive "$ORG/archive" --public-keys "$ORG/public-keys.json" "${FLAGS[@]}" --no-progress --format html >"$WORK/org.html"
code=$?
set -e
[ "$code" = 1 ] || { echo "html.sh: the organization run exited $code, not 1 (one modified log)" >&2; exit 1; }
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc -l)")
row "1,000-chain organization, $ORG_HOURS h, one log modified" "$WORK/org.html" "$secs"

{
  echo "# HTML evidence report: size and load time"
  echo
  echo "\`benches/html.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d), $(/usr/bin/chromium --version 2>/dev/null | head -1)."
  echo "Debug build of \`trailproof\` (dependencies optimised). \"Open\" is headless chromium loading"
  echo "and rendering the page (\`--dump-dom\`, median of 5), the browser's start included; an empty page"
  echo "takes $BASE s."
  echo
  echo "| page | size | validate + render | open in chromium | open minus empty page |"
  echo "|---|--:|--:|--:|--:|"
  cat "$WORK/table"
} >"$OUT"
cat "$OUT"
