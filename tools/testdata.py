#!/usr/bin/env python3
"""Record or compare the expected output of every testdata scenario.

  target/awscli-1.46.3/bin/python tools/testdata.py regen [NAME...]   write expected.*
  target/awscli-1.46.3/bin/python tools/testdata.py diff  [NAME...]   compare with the oracle

For scenarios marked "aws_cli_compatible", the expected output is the AWS CLI's own (the real
validate-logs code run by tools/awscli_oracle.py); for the others, where trailproof is
deliberately stricter, it is trailproof's, to be reviewed by hand in the diff.
Needs a built `target/debug/trailproof` and the pinned AWS CLI: run it with the Python of the
virtual environment `tools/test` installs, `target/awscli-1.46.3/bin/python tools/testdata.py …`.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "testdata")
TRAILPROOF = os.environ.get("TRAILPROOF", os.path.join(ROOT, "target", "debug", "trailproof"))


def scenarios(names):
    for name in sorted(os.listdir(TESTDATA)):
        path = os.path.join(TESTDATA, name)
        if os.path.isfile(os.path.join(path, "scenario.json")) and (not names or name in names):
            with open(os.path.join(path, "scenario.json")) as f:
                yield name, path, json.load(f)


def run_oracle(path, s):
    archive = os.path.join(path, "archive")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "awscli_oracle.py"),
           "--bucket", f"{s['bucket']}={archive}",
           "--public-keys", os.path.join(path, "public-keys.json")]
    for entry in sorted(os.listdir(path)):
        if entry.startswith("bucket-"):
            cmd += ["--bucket", f"{entry[len('bucket-'):]}={os.path.join(path, entry)}"]
    cmd += s["args"] + s["oracle_args"]
    return subprocess.run(cmd, capture_output=True, text=True)


def run_trailproof(path, s):
    cmd = [TRAILPROOF, "validate", "--archive", os.path.join(path, "archive"),
           "--public-keys", os.path.join(path, "public-keys.json")]
    for entry in sorted(os.listdir(path)):
        if entry.startswith("bucket-"):
            cmd += ["--archive-bucket", f"{entry[len('bucket-'):]}={os.path.join(path, entry)}"]
    cmd += s["args"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    # The line naming the key file holds a local path: tests check it apart.
    r.stdout = "".join(l for l in r.stdout.splitlines(keepends=True) if not l.startswith("Public keys: "))
    return r


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("regen", "diff"):
        print(__doc__)
        return 2
    mode, names = sys.argv[1], set(sys.argv[2:])
    failures = 0
    for name, path, s in scenarios(names):
        if mode == "regen":
            r = run_oracle(path, s) if s["aws_cli_compatible"] else run_trailproof(path, s)
            for ext, value in (("stdout", r.stdout), ("stderr", r.stderr), ("status", f"{r.returncode}\n")):
                with open(os.path.join(path, f"expected.{ext}"), "w") as f:
                    f.write(value)
            print(f"{name}: status {r.returncode} ({'aws cli' if s['aws_cli_compatible'] else 'trailproof'})")
        else:
            a, t = run_oracle(path, s), run_trailproof(path, s)
            same = (a.stdout, a.stderr, a.returncode) == (t.stdout, t.stderr, t.returncode)
            tag = "same" if same else ("DIFFERENT (expected)" if not s["aws_cli_compatible"] else "DIFFERENT")
            print(f"{name}: {tag}")
            if not same:
                failures += s["aws_cli_compatible"]
                for label, x, y in (("stdout", a.stdout, t.stdout), ("stderr", a.stderr, t.stderr), ("status", a.returncode, t.returncode)):
                    if x != y:
                        print(f"  --- aws cli {label}:\n{x}\n  --- trailproof {label}:\n{y}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
