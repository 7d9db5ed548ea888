"""Bad input raises trailproof.Error subclasses carrying the command's own messages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Type

import pytest

import trailproof
from conftest import bundled, cli, kwargs_of


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
        trailproof.FileError,
        trailproof.OutputError,
        trailproof.AwsError,
        trailproof.CancelledError,
    ):
        assert issubclass(kind, trailproof.Error) and issubclass(kind, Exception)
    assert issubclass(trailproof.UsageError, ValueError)


def test_the_new_classes_keep_the_old_ones_meaning() -> None:
    # Every class is a trailproof.Error; the I/O ones are OSErrors too, and AWS failures stay
    # ConfigErrors, as they were before the core's errors were split by kind.
    assert issubclass(trailproof.FileError, trailproof.Error)
    assert issubclass(trailproof.FileError, OSError)
    assert issubclass(trailproof.OutputError, trailproof.FileError)
    assert issubclass(trailproof.AwsError, trailproof.ConfigError)
    assert not issubclass(trailproof.FileError, trailproof.ConfigError)
    e = trailproof.OutputError("cannot write x: No space left on device")
    assert str(e) == "cannot write x: No space left on device"


def test_an_archive_that_cannot_be_listed_is_a_file_error(tmp_path: Path) -> None:
    s = bundled("valid-six-hours")
    copy = tmp_path / "archive"
    shutil.copytree(s.archive, copy)
    digests = copy / "AWSLogs" / "111122223333" / "CloudTrail-Digest"
    elsewhere = tmp_path / "elsewhere"
    digests.rename(elsewhere)
    digests.symlink_to(elsewhere, target_is_directory=True)
    args = [*s.cli_args()]
    args[args.index(str(s.archive))] = str(copy)
    e = raises_like_cli(trailproof.FileError, dict(s.kwargs(), archive=copy), args)
    assert isinstance(e, OSError) and not isinstance(e, trailproof.ConfigError)
    assert "is a symbolic link" in str(e)


def test_aws_credentials_that_cannot_be_loaded_are_an_aws_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = bundled("valid-six-hours")
    env: Dict[str, Optional[str]] = {
        k: None for k in os.environ if k.startswith("AWS_") and k != "AWS_CA_BUNDLE"
    }
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    with pytest.raises(trailproof.AwsError) as caught:
        trailproof.validate(**kwargs_of(s.args), s3_bucket="trail-bucket")
    out = cli(["validate", *s.args, "--s3-bucket", "trail-bucket", "--format", "json"], env=env)
    assert out.code == 2 and str(caught.value) == out.error
    assert isinstance(caught.value, trailproof.ConfigError)
    assert str(caught.value).startswith("AWS credentials")


@pytest.mark.parametrize(
    "extra_kwargs, extra_args",
    [
        (dict(concurrency=0), ["--concurrency", "0"]),
        (dict(max_digest_size=5), ["--max-digest-size", "5"]),
        (dict(max_digest_entries=10**30), ["--max-digest-entries", str(10**30)]),
        (dict(threads=-1), ["--threads", "-1"]),
        (dict(fetch_public_keys=True), ["--fetch-public-keys"]),
        (dict(all_regions=True, regions=["us-east-1"]), ["--all-regions", "--regions", "us-east-1"]),
    ],
)
def test_values_the_flags_refuse_are_refused_alike(
    extra_kwargs: Dict[str, Any], extra_args: List[str]
) -> None:
    s = bundled("valid-six-hours")
    raises_like_cli(trailproof.UsageError, dict(s.kwargs(), **extra_kwargs), s.cli_args() + extra_args)


def test_a_trail_named_without_its_bucket_or_arn_is_refused_alike() -> None:
    s = bundled("valid-six-hours")
    kwargs = dict(s.kwargs(), trail_arn=None, trail_name="management-events")
    args = [a for a in s.cli_args()]
    i = args.index("--trail-arn")
    args[i : i + 2] = ["--trail-name", "management-events"]
    e = raises_like_cli(trailproof.UsageError, kwargs, args)
    assert "--s3-bucket" in str(e)
    kwargs = dict(s.kwargs(), trail_arn=None)
    args = [a for a in s.cli_args()]
    del args[i : i + 2]
    e = raises_like_cli(trailproof.UsageError, kwargs, args)
    assert "--trail-arn" in str(e)


def test_a_missing_sign_file_is_a_store_error(tmp_path: Path) -> None:
    # Nothing of the query can be checked without its signed list: the folder cannot be read
    # as query results, which is a StoreError, with the command's own message.
    s = bundled("valid-six-hours")
    keys = str(s.public_keys)
    with pytest.raises(trailproof.StoreError) as caught:
        trailproof.verify_query_results(local_export_path=tmp_path, public_keys=keys)
    out = cli(
        ["verify-query-results", "--local-export-path", str(tmp_path), "--public-keys", keys]
    )
    assert out.code == 2 and out.stdout == ""
    assert str(caught.value) == out.error
    assert "result_sign.json: not found" in str(caught.value)
