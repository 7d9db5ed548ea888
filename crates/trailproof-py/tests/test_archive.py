"""Archive mode: the same verdicts, counts and JSON as the `trailproof` binary."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import trailproof
from conftest import Scenario, bundled, cli, pyfixture_write


def check_same_as_cli(s: Scenario, verbose: bool = False) -> trailproof.Report:
    report = trailproof.validate(**s.kwargs(), verbose=verbose)
    out = cli(s.cli_args() + (["--verbose"] if verbose else []))
    assert report.to_json() == out.stdout
    assert report.exit_code == out.code
    assert report.to_dict() == json.loads(out.stdout)
    return report


def test_a_clean_archive_is_valid() -> None:
    report = check_same_as_cli(bundled("valid-six-hours"))
    assert report.verdict == "valid" and report.valid
    assert report.exit_code == 0
    s = report.summary
    assert s["digest_files"] == {"valid": 6, "invalid": 0, "not_checked": 0, "total": 6}
    assert s["log_files"]["invalid"] == 0
    assert s["log_files"]["valid"] == s["log_files"]["total"] > 0
    assert report.problems == []
    # Valid log files are counted by their digests, and listed only with verbose=True.
    digests = [e for e in report.entries if e["type"] == "digest"]
    logs = [e for e in report.entries if e["type"] == "log"]
    assert len(digests) == 6 and logs == []
    assert sum(d["log_files"] for d in digests) == s["log_files"]["total"]
    assert report.public_keys is not None and report.public_keys["keys"]
    assert "verdict='valid'" in repr(report)

    verbose = check_same_as_cli(bundled("valid-six-hours"), verbose=True)
    logs = [e for e in verbose.entries if e["type"] == "log"]
    assert len(logs) == s["log_files"]["total"]
    assert all(e["status"] == "valid" for e in logs)


def test_a_changed_log_file_is_invalid_and_named() -> None:
    report = check_same_as_cli(bundled("invalid-log-modified"))
    assert report.verdict == "invalid" and not report.valid
    assert report.exit_code == 1
    assert report.summary["log_files"]["invalid"] == 1
    assert report.summary["digest_files"]["invalid"] == 0
    [bad] = report.problems
    assert bad["type"] == "log" and bad["outcome"] == "hash_mismatch"
    assert bad["message"] == "INVALID: hash value doesn't match"
    assert bad["expected"] != bad["actual"]


def test_a_deleted_digest_is_invalid() -> None:
    report = check_same_as_cli(bundled("invalid-digest-deleted"))
    assert report.verdict == "invalid"
    assert report.summary["digest_files"]["invalid"] == 1


def test_an_organization_trail_member() -> None:
    report = check_same_as_cli(bundled("valid-organization-trail"))
    assert report.verdict == "valid"
    [chain] = report.chains
    assert chain["chain"]["organization_id"] == "o-exampleorgid"
    assert chain["chain"]["account_id"] == "111122223333"


def test_a_whole_organization_with_one_tampered_chain(organization: Scenario) -> None:
    report = check_same_as_cli(organization)
    assert report.verdict == "invalid" and report.exit_code == 1
    assert len(report.chains) == 4
    verdicts = sorted(
        (c["chain"]["account_id"], c["chain"]["source_region"], c["verdict"])
        for c in report.chains
    )
    assert verdicts == [
        ("111111111111", "eu-west-1", "valid"),
        ("111111111111", "us-east-1", "valid"),
        ("222222222222", "eu-west-1", "invalid"),
        ("222222222222", "us-east-1", "valid"),
    ]
    assert report.summary["log_files"]["invalid"] == 1
    [bad] = report.problems
    assert "/222222222222/CloudTrail/eu-west-1/" in bad["key"]
    # Narrowed to the untouched account: valid.
    narrowed = trailproof.validate(
        **dict(organization.kwargs(), all_accounts=False, accounts=["111111111111"])
    )
    assert narrowed.verdict == "valid" and len(narrowed.chains) == 2


def test_datetimes_and_dates_are_the_same_as_strings() -> None:
    s = bundled("valid-six-hours")
    by_string = trailproof.validate(**s.kwargs())
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    by_datetime = trailproof.validate(
        **dict(s.kwargs(), start_time=start, end_time=start + timedelta(hours=6))
    )
    # Another zone and a naive datetime (taken as UTC) name the same instants.
    plus_two = timezone(timedelta(hours=2))
    by_zone = trailproof.validate(
        **dict(
            s.kwargs(),
            start_time=start.astimezone(plus_two),
            end_time=datetime(2024, 3, 1, 6),
        )
    )
    assert by_string.to_json() == by_datetime.to_json() == by_zone.to_json()
    by_date = trailproof.validate(**dict(s.kwargs(), start_time=date(2024, 3, 1)))
    assert by_date.to_dict()["requested"]["start"] == "2024-03-01T00:00:00Z"


def test_paths_may_be_pathlib_or_str() -> None:
    s = bundled("valid-six-hours")
    a = trailproof.validate(**dict(s.kwargs(), archive=str(s.archive)))
    b = trailproof.validate(**dict(s.kwargs(), archive=Path(s.archive)))
    assert a.to_json() == b.to_json()


def test_progress_is_reported_up_to_the_end() -> None:
    seen: list[trailproof.Progress] = []
    report = trailproof.validate(**bundled("valid-six-hours").kwargs(), progress=seen.append)
    assert seen, "no progress reported"
    last = seen[-1]
    assert isinstance(last, trailproof.Progress)
    assert last.log_files_checked == report.summary["log_files"]["total"]
    assert last.digests_listed == 6 and last.bytes_inflated > 0
    for a, b in zip(seen, seen[1:]):
        assert all(x <= y for x, y in zip(a, b)), (a, b)


def test_query_results(tmp_path: Path) -> None:
    for name, verdict, code in [("lake", "valid", 0), ("lake-tampered", "invalid", 1)]:
        args = pyfixture_write(name, tmp_path / name)
        kwargs = {k: v for k, v in zip(args[0::2], args[1::2])}
        report = trailproof.verify_query_results(
            local_export_path=kwargs["--local-export-path"],
            public_keys=kwargs["--public-keys"],
        )
        out = cli(["verify-query-results", *args, "--format", "json"])
        assert report.to_json() == out.stdout
        assert (report.verdict, report.exit_code, out.code) == (verdict, code, code)
        assert isinstance(report, trailproof.QueryResultsReport)
        bad = [f for f in report.files if f["status"] != "valid"]
        assert len(bad) == (code == 1)
        assert report.sign_file["status"] == "valid"
        assert report.public_key["found"] is True


def test_the_output_flag_writes_the_report_the_command_prints(tmp_path: Path) -> None:
    s = bundled("invalid-log-modified")
    target = tmp_path / "report.json"
    to_file = cli([*s.cli_args(), "--output", str(target)])
    to_stdout = cli(s.cli_args())
    assert to_file.stdout == "" and to_file.code == to_stdout.code == 1
    assert target.read_text() == to_stdout.stdout
    # A run that fails once the report is open (here on a state file it cannot read) leaves
    # the file as it was, and no temporary file behind.
    state = tmp_path / "state.json"
    state.write_text("not a state file")
    failed = cli([*s.cli_args(), "--output", str(target), "--state", str(state)])
    assert failed.code == 2, failed.stderr
    assert target.read_text() == to_stdout.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "state.json"]
