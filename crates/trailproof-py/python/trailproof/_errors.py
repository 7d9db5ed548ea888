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
    "KeysError",
    "StoreError",
    "CancelledError",
]


class Error(Exception):
    """Base class: the run could not be carried out (the command's exit status 2)."""


class UsageError(Error, ValueError):
    """Arguments the command rejects: an unknown or conflicting option, a malformed trail ARN,
    time or range."""


class ConfigError(Error):
    """A value that cannot be used: a missing archive directory, no public-key source, a state
    file that does not fit the run, AWS configuration or credentials that cannot be loaded."""


class KeysError(Error):
    """The public keys cannot be used: an unreadable key file, or no key in the range."""


class StoreError(Error):
    """Listing or reading S3 or the archive failed (other than a missing object, which is a
    verdict)."""


class CancelledError(Error):
    """The run was stopped before it finished; nothing it had not reached was checked."""
