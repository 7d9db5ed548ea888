#!/usr/bin/env bash
# trailproof benchmarks: criterion micro-benchmarks (with the ceiling probe) and end-to-end runs
# of `trailproof validate` (archive and live) and `aws cloudtrail validate-logs` over generated
# trails served by a local S3 server, with and without an injected 20 ms round trip.
#
#   benches/run.sh --small   CI smoke run: one trail of 24 h × 40 logs, one repetition, quick
#                            criterion settings (about a minute after the build). Fails if any
#                            run fails or does not find every log file valid; ratios are only
#                            reported.
#   benches/run.sh           Full run: trails of 24 h × 40, 7 days × 60 and 30 days × 139 logs
#                            (100,095 logs), plus one of large files for memory, 3 repetitions.
#
#   benches/run.sh --sharded Sharded runs (issue "sharded runs"): the 100k trail (or --sizes)
#                            in one run and split in 4 and in 16 shards (--shard-window 1d),
#                            CPU summed over the shards against the single run, the merge time;
#                            and the merge of 1,000 parts (the trail in hourly windows). Every
#                            merge must print what the single run prints. Writes
#                            benches/results/sharded.md.
#
#   benches/run.sh --memory  Peak memory on hostile and large inputs (issue "bounded memory"):
#                            1,000,000 listed log files (valid, and all missing; text and
#                            JSON), 30 junk digests, one signed digest of 250,000 entries.
#                            Writes benches/results/memory.md.
#
# Options: --reps N, --sizes "small two-day week 100k bigfiles", --no-micro, --no-e2e,
#   --profile release|dev: the binaries measured (default release: what users run). CI's smoke
#   run takes `--small --profile dev`: the binaries of the test build (`cargo test --workspace`,
#   no-op when it just ran; its dependencies are optimised, the workspace's crates are not),
#   and criterion's benches built with the same features, instead of a second, release build.
#   Figures of a dev run are not comparable: its table goes to target/bench-results/ only.
# Writes benches/results/<small|full>.md (raw data in target/bench-results/<mode>/); generated
# trails are kept in target/bench-data/ and reused while their parameters do not change.
# Environment: TRAILPROOF_BIN measures another trailproof binary (before/after comparisons).
# Needs: cargo, python3 (tools/provision installs the AWS CLI 1.46.3 in its own virtual
# environment, target/awscli-1.46.3, if missing), GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=full
REPS=""
SIZES=""
MICRO=1
E2E=1
MEMORY=0
SHARDED=0
PROFILE=release
while [ $# -gt 0 ]; do
  case "$1" in
    --small) MODE=small ;;
    --full) MODE=full ;;
    --memory) MODE=memory MEMORY=1 MICRO=0 E2E=0 ;;
    --sharded) MODE=sharded SHARDED=1 MICRO=0 E2E=0 ;;
    --reps) REPS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --no-micro) MICRO=0 ;;
    --no-e2e) E2E=0 ;;
    --profile) PROFILE=$2; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$MODE" = sharded ]; then
  : "${REPS:=1}" "${SIZES:=100k}"
  CRITERION_ARGS=()
elif [ "$MODE" = small ]; then
  : "${REPS:=1}" "${SIZES:=small}"
  CRITERION_ARGS=(--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10)
else
  : "${REPS:=3}" "${SIZES:=small two-day week 100k bigfiles}"
  CRITERION_ARGS=()
fi

# Trails: hours, log files per hour (± 1), records per log file (≈ 1 kB each, gzip ≈ 8:1).
# two-day: the 48-digest, 1,920-log trail of the live-CPU issue (CPU per log file live
# against --archive).
declare -A HOURS=([small]=24 [two-day]=48 [week]=168 [100k]=720 [bigfiles]=24)
declare -A LOGS_PER_HOUR=([small]=40 [two-day]=40 [week]=60 [100k]=139 [bigfiles]=2)
declare -A RECORDS=([small]=50 [two-day]=50 [week]=50 [100k]=50 [bigfiles]=20000)
# Hours the AWS CLI is timed on, locally and with 20 ms per request (0: the whole trail;
# -: not run). Partial runs are extrapolated linearly to the whole trail, after subtracting
# the CLI's fixed cost (a run over a range with no digest).
declare -A AWS_HOURS_LOCAL=([small]=0 [two-day]=0 [week]=0 [100k]=24 [bigfiles]=-)
declare -A AWS_HOURS_WAN=([small]=0 [two-day]=24 [week]=24 [100k]=24 [bigfiles]=-)
# Live runs (the large-file trail only checks memory against file size: archive and local).
declare -A LIVE=([small]="0 20" [two-day]="0 20" [week]="0 20" [100k]="0 20" [bigfiles]="0")

case $PROFILE in
  release) PROFILE_DIR=release ;;
  dev) PROFILE_DIR=debug ;;
  *) echo "run.sh: --profile release or dev, not $PROFILE" >&2; exit 2 ;;
esac
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
DATA=$TARGET/bench-data
RAW=$TARGET/bench-results/$MODE
OUT=$ROOT/benches/results/$MODE.md
# Only release figures go to benches/results/.
[ "$PROFILE" = release ] || OUT=$RAW/$MODE.md
mkdir -p "$DATA" "$RAW" "$ROOT/benches/results"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '\n== %s\n' "$*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

log "tools"
if [ ! -x /usr/bin/time ]; then
  if command -v apt-get >/dev/null; then
    (apt-get install -y -qq time || { apt-get update -qq && apt-get install -y -qq time; } \
      || sudo apt-get install -y -qq time) >/dev/null
  fi
  [ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed: apt-get install time"
fi
# The reference AWS CLI: the pinned version in its own virtual environment, never another `aws`.
AWS=${TRAILPROOF_AWSCLI_VENV:-$TARGET/awscli-1.46.3}/bin/aws
if [ "$E2E" = 1 ]; then
  "$ROOT/tools/provision" awscli
  "$AWS" --version
fi

log "build ($PROFILE)"
if [ "$PROFILE" = release ]; then
  # Separately, so the trailproof binary is exactly what `cargo build --release -p trailproof-cli`
  # ships (one build would unify the bench crate's features into its dependencies).
  cargo build --release --locked -p trailproof-cli
  cargo build --release --locked -p trailproof-bench
  BENCH_ARGS=(-p trailproof-bench --no-default-features)
else
  # The test build itself (a no-op right after `cargo test --workspace --locked`): it builds
  # target/debug/trailproof and, for its tests, target/debug/trailproof-bench.
  cargo test --workspace --locked --no-run
  # With the workspace's features, as the test build has them: only the bench target compiles.
  BENCH_ARGS=(--workspace --profile dev)
fi
# TRAILPROOF_BIN: another trailproof binary to measure (a before/after comparison); the build
# above still runs.
TP=${TRAILPROOF_BIN:-$TARGET/$PROFILE_DIR/trailproof}
BENCH=$TARGET/$PROFILE_DIR/trailproof-bench

{
  echo "# trailproof benchmarks: $MODE run"
  echo
  echo "## Machine and load"
  echo
  echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') × $(nproc); $(grep -m1 -o -w sha_ni /proc/cpuinfo || echo 'no sha_ni'), $(grep -m1 -o -w avx2 /proc/cpuinfo || echo 'no avx2'); $(free -g | awk '/Mem:/{print $2}') GB RAM; Linux $(uname -r)"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg); busiest other processes: $(ps -eo pcpu,ni,comm --sort=-pcpu --no-headers | head -4 | awk '{printf "%s (%s%% CPU, nice %s); ", $3, $1, $2}')"
  echo "- binaries: $PROFILE profile$([ "$PROFILE" = release ] || echo ' (a smoke run: the workspace crates unoptimised, figures not comparable)')"
} >"$RAW/machine.md"

if [ "$MICRO" = 1 ]; then
  log "criterion micro-benchmarks"
  rm -rf "$TARGET/criterion"
  cargo bench --locked "${BENCH_ARGS[@]}" --bench micro -- "${CRITERION_ARGS[@]}" \
    >"$RAW/criterion.txt" 2>&1 || { tail -n 30 "$RAW/criterion.txt" >&2; die "cargo bench failed (see $RAW/criterion.txt)"; }
  grep -E '^[a-z_0-9]+/[a-z_0-9]+$|time:|thrpt:' "$RAW/criterion.txt" >&2 || true
fi

CLK_TCK=$(getconf CLK_TCK)
server_ticks() { if [ -n "$SERVER_PID" ]; then awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; else echo 0; fi; }

# measure SIZE SCENARIO TOOL REP -- COMMAND…: appends one row to e2e.tsv.
measure() {
  local size=$1 scenario=$2 tool=$3 rep=$4
  shift 5
  local status=0 s0 s1 t0 t1 user sys rss valid total server
  s0=$(server_ticks)
  t0=$(date +%s%N)
  # Peak RSS from GNU time (a small process to fork from); CPU time to the microsecond from
  # the kernel's rusage (GNU time prints two decimals, too coarse per log file).
  python3 "$ROOT/benches/cputime.py" "$WORK/cpu" /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$@" \
    >"$WORK/stdout" 2>"$WORK/stderr" </dev/null || status=$?
  t1=$(date +%s%N)
  s1=$(server_ticks)
  read -r _ _ rss < <(tail -n1 "$WORK/time")
  read -r user sys < <(tail -n1 "$WORK/cpu")
  read -r valid total < <(grep -Eo '^[0-9]+/[0-9]+ log files valid' "$WORK/stdout" | awk -F'[/ ]' '{print $1, $2}') || true
  valid=${valid:-0} total=${total:-0}
  server=-
  [ -n "$SERVER_PID" ] && server=$(awk -v a="$s0" -v b="$s1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b - a) / t}')
  printf '%s\t%s\t%s\t%s\t%.3f\t%.4f\t%.4f\t%s\t%s\t%s\t%s\t%s\n' "$size" "$scenario" "$tool" "$rep" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print (b - a) / 1e9}')" "$user" "$sys" "$rss" "$status" \
    "$valid" "$total" "$server" | tee -a "$RAW/e2e.tsv" >&2
  if [ "$status" != 0 ] && [ "$tool" != aws-baseline ]; then
    echo "--- $tool exited $status; stderr:" >&2
    tail -n 20 "$WORK/stderr" >&2
  fi
}

start_server() { # SIZE DELAY_MS
  rm -f "$WORK/env"
  "$BENCH" serve --trail "$DATA/$1" --root "$DATA/$1/s3" --delay-ms "$2" --env-file "$WORK/env" 2>"$WORK/serve.log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 3000); do
    [ -s "$WORK/env" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "the server stopped"; }
    sleep 0.2
  done
  [ -s "$WORK/env" ] || die "the server did not start"
  cat "$WORK/serve.log" >&2
  # shellcheck disable=SC1091
  . "$WORK/env"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# The environment that points a client (the AWS CLI or trailproof) at the local servers only,
# as crates/trailproof-cli/tests/live.rs sets it up: sets ENV, a command prefix.
client_env() {
  mkdir -p "$WORK/home"
  printf '[default]\ns3 =\n    addressing_style = path\n' >"$WORK/home/config"
  ENV=(env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_ENDPOINT_URL -u AWS_SESSION_TOKEN
    AWS_CONFIG_FILE="$WORK/home/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/home/credentials"
    AWS_ACCESS_KEY_ID=AKIDTRAILPROOFBENCH AWS_SECRET_ACCESS_KEY=trailproof-bench-secret-key
    AWS_ENDPOINT_URL_S3="$S3_URL" AWS_ENDPOINT_URL_CLOUDTRAIL="$CLOUDTRAIL_URL"
    AWS_ENDPOINT_URL_ORGANIZATIONS="$CLOUDTRAIL_URL" AWS_EC2_METADATA_DISABLED=true)
}

json_field() { grep -o "\"$2\": *\"[^\"]*\"" "$1" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }

# mem NAME EXPECTED_EXIT TARGET_MB -- COMMAND…: peak RSS of one run, as a row of memory.md.
mem() {
  local name=$1 want=$2 target=$3 status=0 secs rss
  shift 4
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" </dev/null || status=$?
  read -r secs rss < <(tail -n1 "$WORK/time")
  local mb=$(( (rss + 1023) / 1024 )) verdict=met
  [ "$mb" -le "$target" ] || verdict=MISSED
  printf '| %s | %s | %s s | %s MB | ≤ %s MB | %s |\n' "$name" "$status" "$secs" "$mb" "$target" "$verdict" \
    | tee -a "$RAW/memory.md" >&2
  if [ "$status" != "$want" ]; then
    tail -n 5 "$WORK/stdout" "$WORK/stderr" >&2
    die "$name: exit $status, expected $want"
  fi
  rm -f "$WORK/stdout" "$WORK/stderr"
}

if [ "$MEMORY" = 1 ]; then
  {
    cat "$RAW/machine.md"
    echo
    echo "| run | exit | time | peak RSS | target | |"
    echo "|---|---|---|---|---|---|"
  } >"$RAW/memory.md"
  # 1,000 hourly digests of 1,000 log files each (± 1 per hour).
  log "memory: generate 1,000,000 log files"
  "$BENCH" gen --out "$DATA/1m" --hours 1000 --logs-per-hour 1000 --records-per-log 1
  cp -f "$DATA/1m/archive/public-keys.json" "$DATA/1m/public-keys.json"
  ARN=$(json_field "$DATA/1m/trail.json" trail_arn)
  RANGE=(--trail-arn "$ARN" --start-time "$(json_field "$DATA/1m/trail.json" start)" --end-time "$(json_field "$DATA/1m/trail.json" end)")
  KEYS=(--public-keys "$DATA/1m/public-keys.json")
  LOGS=$(grep -o '"logs": *[0-9]*' "$DATA/1m/trail.json" | grep -o '[0-9]*$')
  # The same digests without any log file: every listed log file is missing.
  rm -rf "$DATA/1m-missing"
  mkdir -p "$DATA/1m-missing"
  digests=$(cd "$DATA/1m/archive" && find . -maxdepth 4 -type d -name CloudTrail-Digest | head -1)
  mkdir -p "$DATA/1m-missing/$(dirname "$digests")"
  cp -al "$DATA/1m/archive/$digests" "$DATA/1m-missing/$digests"
  for format in text json; do
    mem "$LOGS listed log files, valid, $format" 0 150 -- \
      "$TP" validate --archive "$DATA/1m/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format "$format"
  done
  for format in text json; do
    mem "$LOGS listed log files, all missing, $format" 1 300 -- \
      "$TP" validate --archive "$DATA/1m-missing" "${KEYS[@]}" "${RANGE[@]}" --no-progress --format "$format"
  done

  log "memory: 30 junk digests"
  "$BENCH" gen --out "$DATA/small" --hours 24 --logs-per-hour 40 --records-per-log 50
  rm -rf "$DATA/junk"
  cp -al "$DATA/small/archive" "$DATA/junk"
  ARN=$(json_field "$DATA/small/trail.json" trail_arn)
  START=$(json_field "$DATA/small/trail.json" start)
  RANGE=(--trail-arn "$ARN" --start-time "$START" --end-time "$(json_field "$DATA/small/trail.json" end)")
  digest=$(find "$DATA/junk" -name '*CloudTrail-Digest*.json.gz' | sort | head -1)
  python3 - "$digest" "$START" <<'PY'
import datetime, gzip, os, sys
first, start = sys.argv[1], datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%SZ")
# Unsigned objects named like the trail's digests, at minute 7 of the first 30 hours: 32 MiB
# of inflated bytes each.
folder, name = os.path.split(first)
stem = name[: -len("YYYYMMDDTHHMMSSZ.json.gz")]
body = gzip.compress(b" " * (32 << 20), 9)
for h in range(30):
    t = start + datetime.timedelta(hours=h, minutes=7)
    day = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(folder))), t.strftime("%Y/%m/%d"))
    os.makedirs(day, exist_ok=True)
    with open(os.path.join(day, stem + t.strftime("%Y%m%dT%H%M%SZ") + ".json.gz"), "wb") as f:
        f.write(body)
PY
  mem "30 junk digests of 32 MiB inflated" 1 400 -- \
    "$TP" validate --archive "$DATA/junk" --public-keys "$DATA/small/archive/public-keys.json" "${RANGE[@]}" --no-progress

  log "memory: one signed digest of 250,000 entries"
  "$BENCH" gen --out "$DATA/big-digest" --hours 3 --logs-per-hour 10 --records-per-log 1 --big-digest-entries 250000
  cp -f "$DATA/big-digest/archive/public-keys.json" "$DATA/big-digest/public-keys.json"
  RANGE=(--trail-arn "$(json_field "$DATA/big-digest/trail.json" trail_arn)" --start-time "$(json_field "$DATA/big-digest/trail.json" start)" --end-time "$(json_field "$DATA/big-digest/trail.json" end)")
  for format in text json; do
    mem "a signed digest of 250,000 entries (all missing), $format" 1 1024 -- \
      "$TP" validate --archive "$DATA/big-digest/archive" --public-keys "$DATA/big-digest/public-keys.json" "${RANGE[@]}" --no-progress --format "$format"
  done
  [ "$OUT" = "$RAW/memory.md" ] || cp "$RAW/memory.md" "$OUT"
  echo "wrote $OUT" >&2
  exit 0
fi

if [ "$E2E" = 1 ]; then
  : >"$RAW/e2e.tsv"
  : >"$RAW/requests.md"
  rm -f "$RAW"/trail-*.json "$RAW"/ceiling-*.jsonl "$RAW"/load-*.txt
  echo "$SIZES" >"$RAW/sizes"
  for size in $SIZES; do
    [ -n "${HOURS[$size]:-}" ] || die "unknown size $size (small, two-day, week, 100k, bigfiles)"
    cut -d' ' -f1 /proc/loadavg >"$RAW/load-$size.txt"
    log "$size: generate (${HOURS[$size]} h × ${LOGS_PER_HOUR[$size]} logs × ${RECORDS[$size]} records)"
    "$BENCH" gen --out "$DATA/$size" --hours "${HOURS[$size]}" --logs-per-hour "${LOGS_PER_HOUR[$size]}" \
      --records-per-log "${RECORDS[$size]}"
    cp "$DATA/$size/trail.json" "$RAW/trail-$size.json"
    ARN=$(json_field "$DATA/$size/trail.json" trail_arn)
    START=$(json_field "$DATA/$size/trail.json" start)
    END=$(json_field "$DATA/$size/trail.json" end)
    RANGE=(--trail-arn "$ARN" --start-time "$START" --end-time "$END")
    # The trust anchor sits beside the archive, as a user would keep it.
    cp -f "$DATA/$size/archive/public-keys.json" "$DATA/$size/public-keys.json"
    KEYS=(--public-keys "$DATA/$size/public-keys.json")

    log "$size: ceiling probe"
    repeat=3
    [ "$size" = 100k ] && repeat=2
    "$BENCH" ceiling --archive "$DATA/$size/archive" --repeat "$repeat" | tee "$RAW/ceiling-$size.jsonl" >&2

    log "$size: trailproof validate --archive"
    "$TP" validate --archive "$DATA/$size/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress >/dev/null # warms the page cache
    for rep in $(seq 1 "$REPS"); do
      measure "$size" archive trailproof "$rep" -- "$TP" validate --archive "$DATA/$size/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress
    done
    # Experiment: the same with glibc's heap trimming off. trailproof allocates ~170 kB of
    # buffers and inflate state per log file; glibc gives the top of the heap back to the
    # kernel after each file and faults it in again for the next (see benches/README.md).
    for rep in $(seq 1 "$REPS"); do
      measure "$size" archive trailproof-notrim "$rep" -- env MALLOC_TRIM_THRESHOLD_=67108864 MALLOC_TOP_PAD_=67108864 \
        "$TP" validate --archive "$DATA/$size/archive" "${KEYS[@]}" "${RANGE[@]}" --no-progress
    done

    for delay in ${LIVE[$size]}; do
      scenario=live$delay
      log "$size: live, ${delay} ms per S3 request"
      start_server "$size" "$delay"
      client_env
      curl -s "$CLOUDTRAIL_URL/stats" >"$RAW/stats-before.json" 2>/dev/null || echo '{}' >"$RAW/stats-before.json"
      for rep in $(seq 1 "$REPS"); do
        measure "$size" "$scenario" trailproof "$rep" -- "${ENV[@]}" "$TP" validate "${RANGE[@]}" --region us-east-1 --no-progress
      done
      # S3 requests of one live run: the LIST requests beside the GETs (digest listing, and the
      # log folders of the covered days for the unreferenced-log check: about 1 per 1,000 keys).
      curl -s "$CLOUDTRAIL_URL/stats" >"$RAW/stats-after.json" 2>/dev/null || echo '{}' >"$RAW/stats-after.json"
      python3 - "$RAW/stats-before.json" "$RAW/stats-after.json" "$REPS" "$size" "$scenario" >>"$RAW/requests.md" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
reps = int(sys.argv[3])
get = (after.get("s3_get", 0) - before.get("s3_get", 0)) / reps
lst = (after.get("s3_list", 0) - before.get("s3_list", 0)) / reps
per = lst * 1000 / get if get else 0
print(f"| {sys.argv[4]} | {sys.argv[5]} | {get:.0f} | {lst:.0f} | {per:.2f} |")
PY
      # Experiment (one run): fewer requests in flight locally (the former default), more
      # with the round trip, where the client waits.
      conc=64
      [ "$delay" = 0 ] || conc=512
      measure "$size" "$scenario" "trailproof-c$conc" 1 -- "${ENV[@]}" "$TP" validate "${RANGE[@]}" --region us-east-1 --no-progress --concurrency "$conc"
      hours=${AWS_HOURS_LOCAL[$size]}
      [ "$delay" = 0 ] || hours=${AWS_HOURS_WAN[$size]}
      if [ "$hours" != - ]; then
        aws_end=$END
        if [ "$hours" != 0 ]; then
          aws_end=$(date -u -d "$START + $hours hours" +%Y-%m-%dT%H:%M:%SZ)
          # Its fixed cost: a range with no digest (the keys are valid then).
          measure "$size" "$scenario" aws-baseline 1 -- "${ENV[@]}" "$AWS" cloudtrail validate-logs \
            --trail-arn "$ARN" --start-time "$(date -u -d "$START - 5 days" +%Y-%m-%dT%H:%M:%SZ)" \
            --end-time "$(date -u -d "$START - 5 days + 1 hour" +%Y-%m-%dT%H:%M:%SZ)" --region us-east-1
        fi
        measure "$size" "$scenario" aws 1 -- "${ENV[@]}" "$AWS" cloudtrail validate-logs \
          --trail-arn "$ARN" --start-time "$START" --end-time "$aws_end" --region us-east-1
      fi
      curl -s "$CLOUDTRAIL_URL/stats" >"$RAW/requests-$size-$scenario.json" 2>/dev/null || true
      stop_server
    done
  done
  echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/machine.md"
fi

if [ "$SHARDED" = 1 ]; then
  size=${SIZES%% *}
  if [ ! -f "$DATA/$size/trail.json" ]; then
    log "$size: generate (${HOURS[$size]} h × ${LOGS_PER_HOUR[$size]} logs × ${RECORDS[$size]} records)"
    "$BENCH" gen --out "$DATA/$size" --hours "${HOURS[$size]}" --logs-per-hour "${LOGS_PER_HOUR[$size]}" \
      --records-per-log "${RECORDS[$size]}"
  fi
  ARN=$(json_field "$DATA/$size/trail.json" trail_arn)
  START=$(json_field "$DATA/$size/trail.json" start)
  END=$(json_field "$DATA/$size/trail.json" end)
  cp -f "$DATA/$size/archive/public-keys.json" "$DATA/$size/public-keys.json"
  ARGS=(validate --archive "$DATA/$size/archive" --public-keys "$DATA/$size/public-keys.json"
    --trail-arn "$ARN" --start-time "$START" --end-time "$END" --no-progress)
  # timed OUT -- COMMAND…: runs it, prints "elapsed cpu" (seconds; cpu = user + sys).
  timed() {
    local out=$1
    shift 2
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >"$out" 2>"$WORK/stderr" </dev/null || true
    awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$WORK/time"
  }
  "$TP" "${ARGS[@]}" >/dev/null # warms the page cache
  read -r single_wall single_cpu < <(timed "$WORK/single.txt" -- "$TP" "${ARGS[@]}")
  log "$size: single run ${single_wall} s, ${single_cpu} s CPU"
  {
    cat "$RAW/machine.md"
    echo
    echo "Trail \`$size\` ($(grep -Eo '^[0-9]+/[0-9]+ log files valid' "$WORK/single.txt")), archive mode, warm page cache."
    echo "Shards run one after another on this machine; \"CPU\" is user + system time, summed over the"
    echo "shards. Every merge printed exactly what the single run printed."
    echo
    echo "| run | shards | window | wall (s), sum over shards | CPU (s), sum over shards | CPU vs single | merge (s) |"
    echo "|---|--:|---|--:|--:|--:|--:|"
    echo "| single | 1 | - | $single_wall | $single_cpu | 1.00 | - |"
  } >"$RAW/sharded.md"
  for spec in "4 1d" "16 1d" "1000 1h"; do
    read -r n window <<<"$spec"
    # Every shard and the merge of one run share its id (an array job's id in production).
    export TRAILPROOF_RUN_ID="bench-$n-$window"
    rm -rf "$WORK/parts" && mkdir -p "$WORK/parts"
    wall=0 cpu=0
    for m in $(seq 1 "$n"); do
      read -r w c < <(timed /dev/null -- "$TP" "${ARGS[@]}" --shard "$m/$n" --shard-window "$window" \
        --partial "$WORK/parts/part-{index}.json")
      wall=$(awk -v a="$wall" -v b="$w" 'BEGIN{print a + b}')
      cpu=$(awk -v a="$cpu" -v b="$c" 'BEGIN{print a + b}')
    done
    read -r merge_wall _ < <(timed "$WORK/merged.txt" -- sh -c "exec \"\$0\" merge \"\$1\"/part-*.json" "$TP" "$WORK/parts")
    cmp -s "$WORK/single.txt" "$WORK/merged.txt" || die "$n shards: the merge differs from the single run"
    ratio=$(awk -v a="$cpu" -v b="$single_cpu" 'BEGIN{printf "%.2f", a / b}')
    log "$size: $n shards ($window): ${wall} s, ${cpu} s CPU (${ratio}× single), merge ${merge_wall} s"
    echo "| sharded | $n | $window | $(printf %.2f "$wall") | $(printf %.2f "$cpu") | $ratio | $merge_wall |" >>"$RAW/sharded.md"
  done
  [ "$OUT" = "$RAW/sharded.md" ] || cp "$RAW/sharded.md" "$OUT"
  cat "$OUT"
  exit 0
fi

log "results"
TABLE_ARGS=(--results "$RAW")
[ "$MICRO" = 1 ] && TABLE_ARGS+=(--criterion "$TARGET/criterion")
if [ "$E2E" = 1 ]; then
  "$BENCH" table "${TABLE_ARGS[@]}" >"$OUT"
  if [ -s "$RAW/requests.md" ]; then
    {
      echo
      echo "S3 requests per live trailproof run (LIST: the digest listing and the log folders of the covered days, for unreferenced log files):"
      echo
      echo "| trail | scenario | GET | LIST | LIST per 1,000 GET |"
      echo "|---|---|--:|--:|--:|"
      cat "$RAW/requests.md"
    } >>"$OUT"
  fi
else
  "$BENCH" table --criterion "$TARGET/criterion" >"$OUT"
fi
cat "$OUT"
echo "wrote $OUT" >&2

# The smoke check: every run completed and found every log file valid.
if [ "$E2E" = 1 ]; then
  awk -F'\t' '$3 != "aws-baseline" && ($9 != 0 || $10 != $11 || $10 == 0) { bad = 1; print "run.sh: failed run: " $0 > "/dev/stderr" } END { exit bad }' "$RAW/e2e.tsv"
fi
