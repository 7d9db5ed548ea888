"""Shared fixtures: the `trailproof` binary and the `pyfixture` helper (built by
`cargo build -p trailproof-cli --bin trailproof --example pyfixture`, which `cargo test` does),
testdata/ scenarios, and argument lists turned into keyword arguments."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
TESTDATA = REPO / "testdata"
_TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
TRAILPROOF = Path(os.environ.get("TRAILPROOF_BIN") or _TARGET / "debug" / "trailproof")
PYFIXTURE = Path(
    os.environ.get("TRAILPROOF_PYFIXTURE") or _TARGET / "debug" / "examples" / "pyfixture"
)

# Flags of the command that take no value.
SWITCHES = {"--all-accounts", "--all-regions", "--fetch-public-keys"}


def kwargs_of(args: List[str]) -> Dict[str, Any]:
    """`["--trail-arn", "X", "--all-accounts"]` as `{"trail_arn": "X", "all_accounts": True}`."""
    kwargs: Dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag = args[i]
        assert flag.startswith("--"), args
        name = flag[2:].replace("-", "_")
        if flag in SWITCHES:
            kwargs[name] = True
            i += 1
        else:
            kwargs[name] = args[i + 1]
            i += 2
    return kwargs


@dataclass
class Cli:
    code: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The error line without its `trailproof: ` / `trailproof: error: ` prefix."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("trailproof: ")]
        assert lines, self.stderr
        line = lines[-1][len("trailproof: ") :]
        return line[len("error: ") :] if line.startswith("error: ") else line


def cli(args: List[str], env: Optional[Mapping[str, Optional[str]]] = None) -> Cli:
    """Runs the `trailproof` binary."""
    assert TRAILPROOF.is_file(), f"{TRAILPROOF}: build it first (see conftest.py)"
    environ = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v
    out = subprocess.run(
        [str(TRAILPROOF), *args],
        capture_output=True,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    return Cli(out.returncode, out.stdout, out.stderr)


@dataclass
class Scenario:
    """An archive with its keys and the flags that validate it."""

    archive: Path
    public_keys: Path
    args: List[str]

    def kwargs(self) -> Dict[str, Any]:
        return dict(
            kwargs_of(self.args), archive=self.archive, public_keys=self.public_keys
        )

    def cli_args(self) -> List[str]:
        return [
            "validate",
            *self.args,
            "--archive",
            str(self.archive),
            "--public-keys",
            str(self.public_keys),
            "--format",
            "json",
        ]


def bundled(name: str) -> Scenario:
    d = TESTDATA / name
    meta = json.loads((d / "scenario.json").read_text())
    return Scenario(d / "archive", d / "public-keys.json", list(meta["args"]))


def pyfixture_write(name: str, directory: Path) -> List[str]:
    assert PYFIXTURE.is_file(), f"{PYFIXTURE}: build it first (see conftest.py)"
    out = subprocess.run(
        [str(PYFIXTURE), "write", name, str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    args: List[str] = json.loads(out.stdout)["args"]
    return args


@pytest.fixture(scope="session")
def long_trail(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """A day of 250 log files an hour: a run that takes a while."""
    d = tmp_path_factory.mktemp("long")
    args = pyfixture_write("long", d)
    return Scenario(d / "archive", d / "public-keys.json", args)


@pytest.fixture(scope="session")
def organization(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Two accounts in two regions, one log file of one chain changed (flags discover all)."""
    d = tmp_path_factory.mktemp("organization")
    args = pyfixture_write("organization", d)
    return Scenario(d / "archive", d / "public-keys.json", args)


@dataclass
class Served:
    """A scenario on the local S3 and CloudTrail servers."""

    env: Dict[str, Optional[str]]
    args: List[str]


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[[str], Served]]:
    """`serve(name)` starts the servers for a scenario; they stop with the module."""
    started: List[Tuple[subprocess.Popen[str], Served]] = []

    def start(name: str) -> Served:
        assert PYFIXTURE.is_file(), f"{PYFIXTURE}: build it first (see conftest.py)"
        proc = subprocess.Popen(
            [str(PYFIXTURE), "serve", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"pyfixture serve {name} exited with {proc.wait()}"
        doc = json.loads(line)
        served = Served(doc["env"], doc["args"])
        started.append((proc, served))
        return served

    yield start
    for proc, _ in started:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)
