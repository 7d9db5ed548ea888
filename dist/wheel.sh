#!/usr/bin/env bash
# Builds the Python wheel anyone on Linux x86_64 can install, and checks it as such a user would:
# one abi3 wheel (CPython 3.9 and later) linked against glibc 2.17 with zig (manylinux2014),
# accepted by auditwheel, installed with `pip install --no-index` into a fresh virtual
# environment, and run through the package's pytest suite there.
#
#   dist/wheel.sh [--out DIR]
#
#   --out DIR  where the wheel goes (default TARGET/dist; TARGET: $CARGO_TARGET_DIR or target)
#
# The suite needs the test build's helpers (cargo test builds them: target/debug/examples/
# pyfixture); its CLI comparisons run the portable binary when dist/build.sh has built it
# (TARGET/x86_64-unknown-linux-gnu/release/trailproof), the test build's otherwise. Prints the
# wheel's path last. (Its dependencies are compiled again: maturin's cargo environment differs
# from cargo-zigbuild's, and cargo's fingerprints with it. Measured: a full second release
# build.)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=dist/dist-lib.sh
. dist/dist-lib.sh
dist_args "$@"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

tools/provision python dist
PY_VENV=$TARGET/py-tools
export PATH=$PY_VENV/bin:$PATH
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
PYTEST=$(sed -n 's/^PYTEST=\(pytest==[0-9.]*\)$/\1/p' tools/provision)
[ -n "$PYTEST" ] || die "tools/provision pins no pytest"

BUILT=$(mktemp -d "${TMPDIR:-/tmp}/trailproof-wheel.XXXXXX")
trap 'rm -rf "$BUILT"' EXIT
say "maturin build --release --zig --compatibility manylinux2014 (abi3)"
maturin build --release --locked --zig --compatibility manylinux2014 --target "$TRIPLE" \
  --manifest-path crates/trailproof-py/Cargo.toml --out "$BUILT"
shopt -s nullglob
WHEELS=("$BUILT"/*.whl)
shopt -u nullglob
[ ${#WHEELS[@]} = 1 ] || die "maturin left ${#WHEELS[@]} wheels, not 1"
WHEEL=$OUT/$(basename "${WHEELS[0]}")
rm -f "$OUT"/trailproof-*-manylinux*.whl
mv "${WHEELS[0]}" "$WHEEL"
case $(basename "$WHEEL") in
  *-cp39-abi3-*manylinux2014_x86_64*.whl) ;;
  *) die "$(basename "$WHEEL"): not a cp39-abi3 manylinux2014 wheel" ;;
esac

# auditwheel reads the wheel's ELF files: every glibc symbol and every library it links must
# be within the policy.
SHOW=$(auditwheel show "$WHEEL")
printf '%s\n' "$SHOW"
# (It wraps its sentences: compared with the lines joined.)
tr -s ' \n' '  ' <<<"$SHOW" | grep -q 'consistent with the following platform tag: "manylinux_2_17_x86_64"' \
  || die "auditwheel does not accept $(basename "$WHEEL") as manylinux_2_17 (manylinux2014)"

VENV=$BUILT/venv
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PYTEST"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps "$WHEEL"
# The suite must test the installed wheel, not the source tree beside the tests.
FROM=$("$VENV/bin/python" -c 'import trailproof; print(trailproof.__file__)')
case $FROM in "$VENV"/*) ;; *) die "the fresh venv imports trailproof from $FROM" ;; esac

BIN=$TARGET/$TRIPLE/release/trailproof
[ -x "$BIN" ] || BIN=$TARGET/debug/trailproof
say "pytest in a fresh venv (trailproof from $FROM; CLI $BIN)"
set +e
(cd crates/trailproof-py && TRAILPROOF_BIN=$BIN "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rfEs) \
  | tee "$BUILT/pytest.out"
STATUS=${PIPESTATUS[0]}
set -e
[ "$STATUS" = 0 ] || die "pytest failed in the fresh venv (exit $STATUS)"
# A skipped test passes nothing.
if tail -n 1 "$BUILT/pytest.out" | grep -qE '[0-9]+ (skipped|xfailed|deselected)'; then
  die "pytest skipped tests: $(tail -n 1 "$BUILT/pytest.out")"
fi
printf '%s\n' "$WHEEL"
