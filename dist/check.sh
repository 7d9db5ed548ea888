#!/usr/bin/env bash
# Checks what dist/build.sh wrote, as a user who downloads it would use it: the tarball is
# unpacked into an empty folder and its own binary is run.
#
#   dist/check.sh [--out DIR] [--glibc VERSION]     (the same flags as dist/build.sh)
#
# Fails (exit 1, naming each problem) unless:
#   - the SHA-256 file matches the tarball (sha256sum -c);
#   - the tarball holds the binary, README.md, CHANGELOG.md, both licences, the five shells'
#     completions, the man pages (trailproof.1 and one per subcommand) and the SBOM;
#   - `objdump -T` shows no glibc symbol version newer than VERSION (default 2.17);
#   - the binary carries its dependency list (cargo auditable's .dep-v0 section, zlib JSON:
#     what `cargo audit bin` reads), naming trailproof-cli and the crates that check signatures
#     and hashes;
#   - the SBOM parses as CycloneDX JSON, describes trailproof-cli, and lists the same crates;
#   - the README's quick-start `validate` of testdata/valid-sample-day, run with the unpacked
#     binary, exits 0 and prints exactly the sample's expected lines and its key file's line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=dist/dist-lib.sh
. dist/dist-lib.sh
dist_args --glibc-option "$@"
command -v objdump >/dev/null 2>&1 || die "objdump missing: apt-get install -y binutils"
shopt -s nullglob
TARBALLS=("$OUT"/trailproof-*-"$TRIPLE".tar.gz)
shopt -u nullglob
[ ${#TARBALLS[@]} = 1 ] || die "expected one trailproof-*-$TRIPLE.tar.gz in $OUT, found ${#TARBALLS[@]} (dist/build.sh)"
TARBALL=${TARBALLS[0]}
NAME=$(basename "$TARBALL" .tar.gz)
VERSION=${NAME#trailproof-}
VERSION=${VERSION%-"$TRIPLE"}
SBOM=$OUT/trailproof-$VERSION.cdx.json
SAMPLE=testdata/valid-sample-day

PROBLEMS=()
problem() { PROBLEMS+=("$*"); printf 'PROBLEM: %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trailproof-dist-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if (cd "$OUT" && sha256sum --quiet -c "$NAME.tar.gz.sha256"); then
  ok "$NAME.tar.gz.sha256 matches"
else
  problem "$NAME.tar.gz does not match $NAME.tar.gz.sha256"
fi

tar -C "$WORK" -xzf "$TARBALL"
DIR=$WORK/$NAME
BIN=$DIR/trailproof
[ -x "$BIN" ] || die "$NAME.tar.gz has no executable $NAME/trailproof"
missing=()
for f in README.md CHANGELOG.md LICENSE-APACHE LICENSE-MIT trailproof.cdx.json \
  completions/trailproof.bash completions/_trailproof completions/trailproof.fish \
  completions/_trailproof.ps1 completions/trailproof.elv man/man1/trailproof.1 \
  man/man1/trailproof-validate.1 man/man1/trailproof-watch.1; do
  [ -s "$DIR/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} = 0 ]; then
  ok "the tarball holds the binary, the docs, the licences, 5 completions, $(find "$DIR/man/man1" -name '*.1' | wc -l) man pages and the SBOM"
else
  problem "the tarball lacks ${missing[*]}"
fi
grep -qE '^ *complete -F _trailproof ' "$DIR/completions/trailproof.bash" \
  || problem "completions/trailproof.bash is not a bash completion for trailproof"
grep -q '^\.TH trailproof 1' "$DIR/man/man1/trailproof.1" || problem "man/man1/trailproof.1 is not trailproof's man page"

# "GLIBC_2.14" and the like, in the dynamic symbol table: the newest is what the binary needs.
NEWEST=$(objdump -T "$BIN" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/^GLIBC_//' | sort -uV | tail -n 1)
if [ -z "$NEWEST" ]; then
  problem "objdump -T shows no glibc symbol: not the dynamically linked build expected"
elif [ "$(printf '%s\n%s\n' "$NEWEST" "$GLIBC" | sort -V | tail -n 1)" = "$GLIBC" ]; then
  ok "the newest glibc symbol version is $NEWEST (<= $GLIBC)"
else
  problem "the binary needs glibc $NEWEST, newer than $GLIBC: $(objdump -T "$BIN" | grep -E "GLIBC_$NEWEST" | awk '{ print $NF }' | paste -sd ' ')"
fi

# The crates any audit of a verifier would ask about: the signature, the hash, the inflater.
KEY_CRATES=(trailproof-cli trailproof ring sha2 flate2 aws-sdk-s3)
if objcopy --dump-section .dep-v0="$WORK/dep-v0" "$BIN" "$WORK/stripped" 2>"$WORK/objcopy.err"; then
  python3 - "$WORK/dep-v0" "${KEY_CRATES[@]}" >"$WORK/deps.out" <<'PY' && ok "embedded dependency list: $(cat "$WORK/deps.out")" || problem "embedded dependency list: $(cat "$WORK/deps.out")"
import json, sys, zlib
data = json.loads(zlib.decompress(open(sys.argv[1], "rb").read()))
names = {p["name"] for p in data["packages"]}
missing = [c for c in sys.argv[2:] if c not in names]
if missing:
    print(f"{len(names)} packages, without {', '.join(missing)}")
    sys.exit(1)
print(f"{len(names)} packages (.dep-v0), among them {', '.join(sys.argv[2:])}")
PY
else
  problem "no .dep-v0 section (cargo auditable): $(cat "$WORK/objcopy.err")"
fi

for sbom in "$SBOM" "$DIR/trailproof.cdx.json"; do
  python3 - "$sbom" "${KEY_CRATES[@]}" >"$WORK/sbom.out" <<'PY' && ok "$(basename "$sbom"): $(cat "$WORK/sbom.out")" || problem "$sbom: $(cat "$WORK/sbom.out")"
import json, sys
try:
    bom = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"does not parse: {e}")
    sys.exit(1)
if bom.get("bomFormat") != "CycloneDX":
    print(f"bomFormat is {bom.get('bomFormat')!r}, not CycloneDX")
    sys.exit(1)
subject = bom.get("metadata", {}).get("component", {}).get("name")
names = {c.get("name") for c in bom.get("components", [])} | {subject}
missing = [c for c in sys.argv[2:] if c not in names]
if subject != "trailproof-cli" or missing:
    print(f"describes {subject!r}; lacks {', '.join(missing) or 'nothing'}")
    sys.exit(1)
print(f"CycloneDX {bom.get('specVersion')} of {subject}, {len(names) - 1} components")
PY
done
cmp -s "$SBOM" "$DIR/trailproof.cdx.json" || problem "the SBOM in the tarball differs from $SBOM"

set +e
(cd "$ROOT" && "$BIN" validate --archive "$SAMPLE/archive" --public-keys "$SAMPLE/public-keys.json" \
  --trail-arn arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events \
  --start-time 2024-03-01T00:00:00Z --end-time 2024-03-02T00:00:00Z) \
  >"$WORK/sample.out" 2>"$WORK/sample.err"
STATUS=$?
set -e
echo "--- the unpacked trailproof validate (the sample day): exit $STATUS"
cat "$WORK/sample.out"
[ ! -s "$WORK/sample.err" ] || { echo "--- stderr"; cat "$WORK/sample.err"; }
# The scenario's expected lines, and the key line this run's --public-keys gives.
if [ "$STATUS" = 0 ] && grep -v '^Public keys: ' "$WORK/sample.out" | cmp -s - "$SAMPLE/expected.stdout" \
  && grep -qx "Public keys: file $SAMPLE/public-keys.json ([0-9a-f]\{32\})" "$WORK/sample.out"; then
  ok "the unpacked binary validates the sample day (exit 0, the expected lines)"
else
  problem "the sample day: exit $STATUS, not exactly $SAMPLE/expected.stdout and the key line"
fi

if [ ${#PROBLEMS[@]} -gt 0 ]; then
  printf '%d problem(s) in %s\n' "${#PROBLEMS[@]}" "$NAME.tar.gz" >&2
  exit 1
fi
echo "dist check passed: $NAME.tar.gz ($(stat -c %s "$TARBALL") bytes; binary $(stat -c %s "$BIN") bytes)"
