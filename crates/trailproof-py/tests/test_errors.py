"""Bad input raises trailproof.Error subclasses carrying the command's own messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Type

import pytest

import trailproof
from conftest import bundled, cli


def raises_like_cli(
    kind: Type[trailproof.Error], kwargs: Dict[str, Any], cli_args: List[str]
) -> trailproof.Error:
    with pytest.raises(kind) as caught:
        trailproof.validate(**kwargs)
    out = cli(cli_args)
    assert out.code == 2 and out.stdout == ""
    assert str(caught.value) == out.error
    assert isinstance(caught.value, trailproof.Error)
    return caught.value


def test_no_key_source_is_a_config_error() -> None:
    s = bundled("valid-six-hours")
    kwargs = dict(s.kwargs(), public_keys=None)
    args = ["validate", *s.args, "--archive", str(s.archive)]
    e = raises_like_cli(trailproof.ConfigError, kwargs, args)
    assert str(e).startswith("no public keys: pass --public-keys FILE")


def test_an_unreadable_key_file_is_a_keys_error(tmp_path: Path) -> None:
    s = bundled("valid-six-hours")
    missing = tmp_path / "nowhere.json"
    kwargs = dict(s.kwargs(), public_keys=missing)
    args = [*s.cli_args()]
    args[args.index(str(s.public_keys))] = str(missing)
    e = raises_like_cli(trailproof.KeysError, kwargs, args)
    assert str(missing) in str(e)


def test_a_key_file_without_keys_is_a_keys_error(tmp_path: Path) -> None:
    s = bundled("valid-six-hours")
    empty = tmp_path / "keys.json"
    empty.write_text('{"PublicKeyList": []}')
    kwargs = dict(s.kwargs(), public_keys=empty)
    args = [*s.cli_args()]
    args[args.index(str(s.public_keys))] = str(empty)
    raises_like_cli(trailproof.KeysError, kwargs, args)


def test_a_malformed_arn_or_range_is_a_usage_error() -> None:
    s = bundled("valid-six-hours")
    args = s.cli_args()
    bad_arn = [*args]
    bad_arn[bad_arn.index("--trail-arn") + 1] = "arn:nonsense"
    e = raises_like_cli(
        trailproof.UsageError, dict(s.kwargs(), trail_arn="arn:nonsense"), bad_arn
    )
    assert isinstance(e, ValueError) and "arn:nonsense" in str(e)
    backwards = [*args]
    backwards[backwards.index("--end-time") + 1] = "2023-01-01T00:00:00Z"
    e = raises_like_cli(
        trailproof.UsageError, dict(s.kwargs(), end_time="2023-01-01T00:00:00Z"), backwards
    )
    assert "start-time must occur before end-time" in str(e)
    nonsense = [*args]
    nonsense[nonsense.index("--start-time") + 1] = "yesterday"
    raises_like_cli(trailproof.UsageError, dict(s.kwargs(), start_time="yesterday"), nonsense)


def test_flags_the_command_rejects_are_usage_errors() -> None:
    s = bundled("valid-six-hours")
    # Out of range for --threads, and two options that conflict: clap's own messages.
    e = raises_like_cli(
        trailproof.UsageError,
        dict(s.kwargs(), threads=100000000),
        [*s.cli_args(), "--threads", "100000000"],
    )
    assert "--threads" in str(e)
    e = raises_like_cli(
        trailproof.UsageError,
        dict(s.kwargs(), all_accounts=True, accounts=["111122223333"]),
        [*s.cli_args(), "--all-accounts", "--accounts", "111122223333"],
    )
    assert "--all-accounts" in str(e) and "--accounts" in str(e)


def test_a_missing_archive_is_a_config_error(tmp_path: Path) -> None:
    s = bundled("valid-six-hours")
    gone = tmp_path / "gone"
    args = [*s.cli_args()]
    args[args.index(str(s.archive))] = str(gone)
    e = raises_like_cli(trailproof.ConfigError, dict(s.kwargs(), archive=gone), args)
    assert str(gone) in str(e)


def test_wrong_python_types_are_type_errors() -> None:
    s = bundled("valid-six-hours")
    with pytest.raises(TypeError):
        trailproof.validate(**dict(s.kwargs(), start_time=20240301))
    with pytest.raises(TypeError):
        trailproof.validate(**dict(s.kwargs(), threads=True))
    with pytest.raises(TypeError):
        trailproof.validate(**dict(s.kwargs(), threads="4"))
    with pytest.raises(TypeError):
        trailproof.validate(**dict(s.kwargs(), unknown_flag=1))


def test_the_hierarchy() -> None:
    for kind in (
        trailproof.UsageError,
        trailproof.ConfigError,
        trailproof.KeysError,
        trailproof.StoreError,
        trailproof.CancelledError,
    ):
        assert issubclass(kind, trailproof.Error) and issubclass(kind, Exception)
    assert issubclass(trailproof.UsageError, ValueError)
