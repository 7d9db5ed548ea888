"""The exceptions of :mod:`trailproof`: a run that could not be carried out.

Tampering is never an exception: it is a verdict in the :class:`~trailproof.Report`. An
exception means a check could not be made, and carries the message the ``trailproof`` command
prints after ``trailproof: error:``.
"""

from __future__ import annotations

__all__ = [
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


class Error(Exception):
    """Base class: the run could not be carried out (the command's exit status 2)."""


class UsageError(Error, ValueError):
    """Arguments the command rejects: an unknown or conflicting option, a malformed trail ARN,
    time or range."""


class ConfigError(Error):
    """A value that cannot be used: a missing archive directory, no public-key source, a state
    file that does not fit the run, a combination of options the run refuses (the core's
    ``Error::Usage``), AWS configuration or credentials that cannot be loaded (:class:`AwsError`).
    """


class AwsError(ConfigError):
    """AWS credentials or configuration cannot be loaded, or a CloudTrail or Organizations call
    the run depends on failed (DescribeTrails, GetTrailStatus, DescribeOrganization). A
    :class:`ConfigError`, as these always were; reading S3 is a :class:`StoreError`."""


class KeysError(Error):
    """The public keys cannot be used: an unreadable key file, or no key in the range."""


class StoreError(Error):
    """Listing or reading S3 or the archive failed (other than a missing object, which is a
    verdict)."""


class FileError(Error, OSError):
    """A local file or folder could not be read, listed or removed (not a verdict: e.g. an
    archive whose layout cannot be listed). Also an :class:`OSError`; the message names the
    path and the cause."""


class OutputError(FileError):
    """A report, partial report, state file or mirrored file could not be written."""


class CancelledError(Error):
    """The run was stopped before it finished; nothing it had not reached was checked."""
