"""Prove an AWS CloudTrail archive has not been tampered with, from Python.

The same engine, flags, messages and JSON report as the ``trailproof`` command (it is the
command's own code, compiled into this package)::

    import trailproof

    report = trailproof.validate(
        trail_arn="arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events",
        start_time="2024-03-01T00:00:00Z",
        end_time="2024-03-02T00:00:00Z",
        archive="copy-of-the-bucket",          # omit to read S3 directly
        public_keys="public-keys.json",        # or fetch_public_keys=True
    )
    if report.verdict != "valid":
        for entry in report.problems:
            print(entry["message"], entry["key"])

A tampered or missing file is a verdict (``report.verdict == "invalid"``), never an exception;
:class:`trailproof.Error` means a check could not be made. Live mode uses the usual AWS
credential chain (environment, ``profile=``, SSO, instance and container roles), without boto3.
The GIL is released while the run goes on; Ctrl-C (``KeyboardInterrupt``) cancels it.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

from . import _native
from ._errors import (
    AwsError,
    CancelledError,
    ConfigError,
    Error,
    FileError,
    KeysError,
    OutputError,
    StoreError,
    UsageError,
)

__all__ = [
    "validate",
    "verify_query_results",
    "Report",
    "QueryResultsReport",
    "Progress",
    "Error",
    "UsageError",
    "ConfigError",
    "AwsError",
    "KeysError",
    "StoreError",
    "FileError",
    "OutputError",
    "CancelledError",
]

StrPath = Union[str, "os.PathLike[str]"]
"""A path: ``str`` or ``pathlib.Path``."""

TimeLike = Union[str, datetime, date]
"""A time: an ISO string as the command takes it (``2024-03-01T00:00:00Z``), a ``datetime``
(naive ones are taken as UTC, as botocore does) or a ``date`` (its midnight UTC)."""


class Progress(NamedTuple):
    """How far a run has got, as passed to the ``progress`` callback."""

    digests_listed: int
    """Digest files listed, to be fetched."""
    digests_fetched: int
    """Digest files fetched and parsed so far."""
    log_files_queued: int
    """Log files to check, as valid digests list them."""
    log_files_checked: int
    """Log files checked so far."""
    bytes_inflated: int
    """Uncompressed bytes of log files hashed so far."""


ProgressCallback = Callable[[Progress], object]


class _Document:
    """A report as the command writes it with ``--format json``."""

    def __init__(self, text: str, exit_code: int) -> None:
        self._text = text
        self._doc: Dict[str, Any] = json.loads(text)
        self.exit_code: int = exit_code
        """The command's exit status: 0 valid, 1 invalid, 2 incomplete (something could not
        be checked, or the ``state`` file could not be written)."""
        self.verdict: str = self._doc["verdict"]
        """``"valid"``, ``"invalid"`` or ``"incomplete"``."""

    @property
    def valid(self) -> bool:
        """True when everything was checked and found valid."""
        return self.verdict == "valid"

    def to_dict(self) -> Dict[str, Any]:
        """The JSON report as plain data (a fresh copy each call)."""
        result: Dict[str, Any] = json.loads(self._text)
        return result

    def to_json(self) -> str:
        """The JSON report, exactly as ``trailproof … --format json`` prints it."""
        return self._text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} verdict={self.verdict!r} exit_code={self.exit_code}>"


class Report(_Document):
    """The result of :func:`validate`: the command's JSON report (layout in the README)."""

    @property
    def summary(self) -> Dict[str, Any]:
        """Counts, as in the text report's summary lines: ``digest_files``,
        ``backfill_digest_files`` and ``log_files`` (each ``valid``/``invalid``/``not_checked``/
        ``total``), then the extra findings. Totals over every chain with discovery; empty when
        discovery found no chain."""
        summary: Dict[str, Any] = self._doc.get("summary", {})
        return summary

    @property
    def chains(self) -> List[Dict[str, Any]]:
        """Each chain's document (``chain``, ``summary``, ``verdict``, ``entries``…): one for a
        single trail, every (organization, account, region) chain found with discovery."""
        if "chains" in self._doc:
            chains: List[Dict[str, Any]] = self._doc["chains"]
            return chains
        return [self._doc]

    @property
    def entries(self) -> List[Dict[str, Any]]:
        """Every digest, log file and gap entry of every chain, in the command's order."""
        return [entry for chain in self.chains for entry in chain.get("entries", [])]

    @property
    def problems(self) -> List[Dict[str, Any]]:
        """The entries that are not valid: invalid, or not checked."""
        return [e for e in self.entries if e.get("status") not in (None, "valid")]

    @property
    def findings(self) -> List[Dict[str, Any]]:
        """Chain-level findings (missing digests, broken links, unreferenced logs…)."""
        return [f for chain in self.chains for f in chain.get("findings", [])]

    @property
    def public_keys(self) -> Optional[Dict[str, Any]]:
        """The key source and every key that verified a digest."""
        keys: Optional[Dict[str, Any]] = self._doc.get("public_keys")
        return keys


class QueryResultsReport(_Document):
    """The result of :func:`verify_query_results` (``verify-query-results --format json``)."""

    @property
    def files(self) -> List[Dict[str, Any]]:
        """Each result file with its ``status``, ``outcome`` and ``message``."""
        files: List[Dict[str, Any]] = self._doc["files"]
        return files

    @property
    def sign_file(self) -> Dict[str, Any]:
        """The signature file ``result_sign.json``: its fields and whether it verified."""
        sign: Dict[str, Any] = self._doc["sign_file"]
        return sign

    @property
    def public_key(self) -> Dict[str, Any]:
        """The key that signed the results, and where it came from."""
        key: Dict[str, Any] = self._doc["public_key"]
        return key


def _time(name: str, value: TimeLike) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"{name}: expected str, datetime or date, not {type(value).__name__}")


def _path(name: str, value: StrPath) -> str:
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name}: expected a str or os.PathLike[str] path")
    return path


def _int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected int, not {type(value).__name__}")
    return int(value)


def _names(name: str, values: Sequence[str]) -> List[str]:
    if isinstance(values, str):
        values = [values]
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{name}: expected str items, not {type(v).__name__}")
    return list(values)


def _optional(convert: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    return None if value is None else convert(name, value)


def _callback(
    progress: Optional[ProgressCallback],
) -> Optional[Callable[[int, int, int, int, int], object]]:
    if progress is None:
        return None
    user = progress

    def callback(a: int, b: int, c: int, d: int, e: int) -> object:
        return user(Progress(a, b, c, d, e))

    return callback


def validate(
    *,
    trail_arn: Optional[str] = None,
    start_time: TimeLike,
    end_time: Optional[TimeLike] = None,
    archive: Optional[StrPath] = None,
    archive_buckets: Optional[Mapping[str, StrPath]] = None,
    public_keys: Optional[StrPath] = None,
    fetch_public_keys: bool = False,
    trail_name: Optional[str] = None,
    home_region: Optional[str] = None,
    s3_bucket: Optional[str] = None,
    s3_prefix: Optional[str] = None,
    account_id: Optional[str] = None,
    region: Optional[str] = None,
    organization_id: Optional[str] = None,
    all_accounts: bool = False,
    all_regions: bool = False,
    accounts: Optional[Sequence[str]] = None,
    regions: Optional[Sequence[str]] = None,
    state: Optional[StrPath] = None,
    concurrency: Optional[int] = None,
    threads: Optional[int] = None,
    profile: Optional[str] = None,
    max_digest_size: Optional[int] = None,
    max_digest_entries: Optional[int] = None,
    verbose: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> Report:
    """Validates a trail's digest and log files, like ``trailproof validate --format json``.

    Each keyword is the command's flag of the same name (``trail_arn`` is ``--trail-arn``);
    ``None`` or ``False`` leaves the flag out, so the command's defaults apply. With
    ``archive=`` a local copy of the bucket is checked (and ``public_keys=`` or
    ``fetch_public_keys=True`` is required); without it the trail is read from S3 with the
    usual AWS credentials (``profile=``, ``region=``).

    :param trail_arn: the trail's ARN (or give ``trail_name``, ``s3_bucket``, ``home_region``).
    :param start_time: validate log files delivered on or after this time.
    :param end_time: ... on or before this time (default: now).
    :param archive: directory holding the digest bucket's objects under their keys.
    :param archive_buckets: other buckets of the archive, ``{name: directory}``.
    :param public_keys: the JSON output of ``aws cloudtrail list-public-keys``, obtained apart
        from the archive.
    :param fetch_public_keys: archive mode: ask CloudTrail's ListPublicKeys for the keys.
    :param all_accounts: every account found under the trail's prefix (organization trails).
    :param all_regions: every source region found for each account.
    :param accounts: only these accounts (implies discovery).
    :param regions: only these source regions (implies discovery).
    :param state: incremental runs: file holding the newest verified digest of each chain.
    :param concurrency: S3 requests in flight at once (live mode, 1–512).
    :param threads: worker threads (0: one per core, 1: serial).
    :param verbose: list valid log files among the entries too (otherwise each digest entry
        only counts them), as ``--verbose`` does.
    :param progress: called with a :class:`Progress` on the calling thread as the run
        advances (a few times a second at most) and once at its end; an exception it raises
        cancels the run and is raised by :func:`validate`.
    :returns: the :class:`Report`; tampering is its verdict, never an exception.
    :raises UsageError: arguments the command rejects (bad ARN, time, conflicting options).
    :raises KeysError: the public keys cannot be used.
    :raises StoreError: S3 or the archive cannot be listed or read.
    :raises FileError: a local file or folder cannot be read (an archive whose layout cannot
        be listed); an ``OSError`` too.
    :raises OutputError: a report or file the run writes cannot be written (a ``FileError``).
    :raises AwsError: AWS credentials cannot be loaded, or a CloudTrail or Organizations call
        fails (a ``ConfigError``).
    :raises ConfigError: a value the run cannot use (missing directory, no key source, a state
        file that does not fit).
    :raises KeyboardInterrupt: Ctrl-C: the run is cancelled, and nothing more is read.
    """
    text, code = _native.validate(
        trail_arn=trail_arn,
        trail_name=trail_name,
        home_region=home_region,
        start_time=_time("start_time", start_time),
        end_time=_optional(_time, "end_time", end_time),
        archive=_optional(_path, "archive", archive),
        archive_buckets=[
            (str(name), _path("archive_buckets", directory))
            for name, directory in (archive_buckets or {}).items()
        ],
        public_keys=_optional(_path, "public_keys", public_keys),
        fetch_public_keys=bool(fetch_public_keys),
        s3_bucket=s3_bucket,
        s3_prefix=s3_prefix,
        account_id=account_id,
        region=region,
        organization_id=organization_id,
        all_accounts=bool(all_accounts),
        all_regions=bool(all_regions),
        accounts=_optional(_names, "accounts", accounts),
        regions=_optional(_names, "regions", regions),
        state=_optional(_path, "state", state),
        concurrency=_optional(_int, "concurrency", concurrency),
        threads=_optional(_int, "threads", threads),
        profile=profile,
        max_digest_size=_optional(_int, "max_digest_size", max_digest_size),
        max_digest_entries=_optional(_int, "max_digest_entries", max_digest_entries),
        verbose=bool(verbose),
        progress=_callback(progress),
    )
    return Report(text, code)


def verify_query_results(
    *,
    local_export_path: Optional[StrPath] = None,
    s3_bucket: Optional[str] = None,
    s3_prefix: Optional[str] = None,
    public_keys: Optional[StrPath] = None,
    region: Optional[str] = None,
    profile: Optional[str] = None,
    threads: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
) -> QueryResultsReport:
    """Verifies CloudTrail Lake query results against their signed ``result_sign.json``, like
    ``trailproof verify-query-results --format json``: from a local folder
    (``local_export_path``) or from S3 (``s3_bucket``, ``s3_prefix``), with keys from a
    ``list-public-keys`` file or CloudTrail's ListPublicKeys.

    :param progress: called as for :func:`validate`, result files counted as log files
        (``log_files_queued``, ``log_files_checked``) and their stored bytes as
        ``bytes_inflated``.
    :returns: the :class:`QueryResultsReport`; a tampered file is its verdict.
    :raises Error: as :func:`validate` does.
    :raises KeyboardInterrupt: Ctrl-C: the check is cancelled, and nothing more is read.
    """
    text, code = _native.verify_query_results(
        local_export_path=_optional(_path, "local_export_path", local_export_path),
        s3_bucket=s3_bucket,
        s3_prefix=s3_prefix,
        public_keys=_optional(_path, "public_keys", public_keys),
        region=region,
        profile=profile,
        threads=_optional(_int, "threads", threads),
        progress=_callback(progress),
    )
    return QueryResultsReport(text, code)
