#!/usr/bin/env bash
# Builds the portable Linux release of trailproof: a release binary linked against glibc 2.17
# (the manylinux2014 baseline, so it runs on every Linux distribution still supported), built
# with cargo-zigbuild and carrying its dependency list (cargo auditable: `cargo audit bin` reads
# it), packed with the README, the licences, the shell completions and the man pages; beside it
# a SHA-256 file and a CycloneDX SBOM (cargo cyclonedx).
#
#   dist/build.sh [--out DIR] [--glibc VERSION]
#
#   --out DIR        where the files go (default TARGET/dist; TARGET: $CARGO_TARGET_DIR or target)
#   --glibc VERSION  the oldest glibc the binary must run on (default 2.17)
#
# Writes DIR/trailproof-VERSION-x86_64-unknown-linux-gnu.tar.gz, its .sha256 (sha256sum -c
# format) and DIR/trailproof-VERSION.cdx.json, and prints their paths last. The binary itself
# stays at TARGET/x86_64-unknown-linux-gnu/release/trailproof (CI's container image packages
# it). dist/check.sh checks the result. The tools come from tools/provision dist (pinned).
# With SOURCE_DATE_EPOCH (default: the last commit's time) the tarball is the same bytes for the
# same binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=dist/dist-lib.sh
. dist/dist-lib.sh
dist_args --glibc-option "$@"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

tools/provision dist
export PATH=$TARGET/cargo-tools/bin:$TARGET/py-tools/bin:$PATH
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# `cargo auditable` puts itself in as rustc's workspace wrapper and runs `cargo zigbuild`,
# which links with zig against the glibc named in the target (".2.17"). Only the workspace's
# crates go through the wrapper.
say "cargo auditable zigbuild --release --target $TRIPLE.$GLIBC -p trailproof-cli"
cargo auditable zigbuild --release --locked --target "$TRIPLE.$GLIBC" -p trailproof-cli
BIN=$TARGET/$TRIPLE/release/trailproof
[ -x "$BIN" ] || die "the build left no $BIN"

VERSION=$("$BIN" --version | awk 'NR == 1 && $1 == "trailproof" { print $2 }')
[ -n "$VERSION" ] || die "$BIN --version: unexpected output"
NAME=trailproof-$VERSION-$TRIPLE
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/trailproof-dist.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
DIR=$STAGE/$NAME
umask 022
install -D -m 0755 "$BIN" "$DIR/trailproof"
install -m 0644 README.md CHANGELOG.md LICENSE-APACHE LICENSE-MIT "$DIR/"
# The file names each shell's completion loader looks for.
mkdir -p "$DIR/completions" "$DIR/man/man1"
"$BIN" completions bash >"$DIR/completions/trailproof.bash"
"$BIN" completions zsh >"$DIR/completions/_trailproof"
"$BIN" completions fish >"$DIR/completions/trailproof.fish"
"$BIN" completions powershell >"$DIR/completions/_trailproof.ps1"
"$BIN" completions elvish >"$DIR/completions/trailproof.elv"
"$BIN" man --dir "$DIR/man/man1" >/dev/null

# The SBOM of what the binary is built from: trailproof-cli's dependencies for this target,
# build-time ones included (they shaped the code).
say "cargo cyclonedx (trailproof-cli, $TRIPLE)"
# It writes one beside every workspace member's manifest, whatever --manifest-path says: under
# a name of its own, and only trailproof-cli's is kept.
SBOM_NAME=trailproof-dist-sbom
cargo cyclonedx --manifest-path crates/trailproof-cli/Cargo.toml --format json --spec-version 1.5 \
  --target "$TRIPLE" --override-filename "$SBOM_NAME" -q
mv crates/trailproof-cli/$SBOM_NAME.json "$OUT/trailproof-$VERSION.cdx.json"
rm -f crates/*/$SBOM_NAME.json fuzz/$SBOM_NAME.json
install -m 0644 "$OUT/trailproof-$VERSION.cdx.json" "$DIR/trailproof.cdx.json"

# Reproducible: sorted names, one date, no owner names, gzip without a name or time stamp.
find "$DIR" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
TARBALL=$OUT/$NAME.tar.gz
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -cf - "$NAME" | gzip -9 -n >"$TARBALL"
(cd "$OUT" && sha256sum "$NAME.tar.gz" >"$NAME.tar.gz.sha256")

printf '%s\n' "$TARBALL" "$TARBALL.sha256" "$OUT/trailproof-$VERSION.cdx.json"
