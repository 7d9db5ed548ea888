"""Live mode against the local S3 and CloudTrail servers the Rust tests use: the package reads
the trail through the AWS SDK's usual credential chain and endpoints (here, environment
variables), exactly as the `trailproof` binary does."""

from __future__ import annotations

import json
from typing import Callable

import pytest

import trailproof
from conftest import Served, cli, kwargs_of

Serve = Callable[[str], Served]


def live_same_as_cli(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> trailproof.Report:
    for k, v in served.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    report = trailproof.validate(**kwargs_of(served.args), concurrency=8)
    out = cli(
        ["validate", *served.args, "--concurrency", "8", "--format", "json"],
        env=served.env,
    )
    assert report.to_json() == out.stdout, out.stderr
    assert report.exit_code == out.code
    assert json.loads(out.stdout)["public_keys"]["source"] == "CloudTrail ListPublicKeys"
    return report


def test_live_clean(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    report = live_same_as_cli(serve("valid-six-hours"), monkeypatch)
    assert report.verdict == "valid" and report.exit_code == 0
    assert report.summary["digest_files"]["valid"] == 6
    assert report.chains[0]["chain"]["bucket"] == "tpb"


def test_live_tampered(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    report = live_same_as_cli(serve("invalid-log-modified"), monkeypatch)
    assert report.verdict == "invalid" and report.exit_code == 1
    [bad] = report.problems
    assert bad["outcome"] == "hash_mismatch"


def test_live_organization(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    report = live_same_as_cli(serve("organization"), monkeypatch)
    assert report.verdict == "invalid"
    assert len(report.chains) == 4
    assert sum(c["verdict"] == "invalid" for c in report.chains) == 1
    member = live_same_as_cli(serve("valid-organization-trail"), monkeypatch)
    assert member.verdict == "valid"
    assert member.chains[0]["chain"]["organization_id"] is not None


def test_live_errors_carry_the_sdk_message(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve("valid-six-hours")
    for k, v in served.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    # A bucket the server does not have: listing fails, which is not a verdict.
    kwargs = dict(kwargs_of(served.args), s3_bucket="no-such-bucket")
    with pytest.raises(trailproof.Error) as caught:
        trailproof.validate(**kwargs)
    out = cli(
        ["validate", *served.args, "--s3-bucket", "no-such-bucket", "--format", "json"],
        env=served.env,
    )
    assert out.code == 2
    assert str(caught.value) == out.error
