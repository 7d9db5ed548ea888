"""The GIL is released while a run goes on, and Ctrl-C or a failing progress callback cancels
it promptly (a validation and a check of Lake query results alike)."""

from __future__ import annotations

import _thread
import threading
import time
from typing import Callable, List

import pytest

import trailproof
from conftest import Scenario, Served, kwargs_of


def test_another_thread_runs_while_validating(long_trail: Scenario) -> None:
    ticks: List[float] = []
    stop = threading.Event()

    def busy() -> None:
        # Pure Python: it can only advance while nobody holds the GIL for long.
        while not stop.is_set():
            n = 0
            for i in range(20000):
                n += i
            ticks.append(time.monotonic())

    t = threading.Thread(target=busy)
    t.start()
    try:
        started = time.monotonic()
        # Serial, every file listed; again until a second has gone by (a release build checks
        # the trail in well under that): long enough to see the other thread run throughout.
        runs = 0
        while runs == 0 or time.monotonic() - started < 1.0:
            report = trailproof.validate(**long_trail.kwargs(), threads=1, verbose=True)
            assert report.verdict == "valid"
            assert report.summary["log_files"]["valid"] == 6000
            runs += 1
        ended = time.monotonic()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if started <= x <= ended]
    assert ended - started >= 1.0, "the runs are too short to show anything"
    # Ticks every few milliseconds throughout the run, never a long stall.
    assert len(during) > 50, (len(during), ended - started)
    stalls = [b - a for a, b in zip([started, *during], [*during, ended])]
    assert max(stalls) < 0.5, max(stalls)


def test_ctrl_c_cancels_the_run(long_trail: Scenario) -> None:
    seen: List[trailproof.Progress] = []
    interrupted = threading.Event()

    def progress(p: trailproof.Progress) -> None:
        seen.append(p)
        # Ctrl-C as soon as log files are being checked: what SIGINT does, without a timer
        # racing the run.
        if p.log_files_checked > 0 and not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        trailproof.validate(**long_trail.kwargs(), threads=2, progress=progress)
    # Stopped well before the end: the last progress seen is short of the 6000 log files.
    assert 0 < seen[-1].log_files_checked < 6000, seen[-1]
    # The interpreter is usable, and a new run completes.
    again = trailproof.validate(**long_trail.kwargs(), threads=2)
    assert again.verdict == "valid"


def test_an_exception_in_the_progress_callback_cancels_the_run(long_trail: Scenario) -> None:
    class Enough(Exception):
        pass

    checked: List[int] = []

    def progress(p: trailproof.Progress) -> None:
        checked.append(p.log_files_checked)
        if p.log_files_checked > 0:
            raise Enough

    with pytest.raises(Enough):
        trailproof.validate(**long_trail.kwargs(), threads=2, progress=progress)
    assert 0 < checked[-1] < 6000, checked


def test_ctrl_c_cancels_a_query_results_check(
    serve: Callable[[str], Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve("lake-long")
    for k, v in served.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    kwargs = kwargs_of(served.args)
    seen: List[trailproof.Progress] = []
    interrupted = threading.Event()

    def progress(p: trailproof.Progress) -> None:
        seen.append(p)
        # Ctrl-C once result files are being read.
        if p.log_files_checked > 0 and not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        trailproof.verify_query_results(**kwargs, threads=1, progress=progress)
    assert seen and seen[-1].log_files_queued == 1000, seen
    # Stopped, not waited for: the run ended with result files still unread (a Ctrl-C that only
    # waited would see all 1,000 checked). Counted, not timed.
    assert 0 < seen[-1].log_files_checked < 1000, seen[-1]
    # The interpreter is usable, and a new check completes.
    again = trailproof.verify_query_results(**kwargs, threads=4)
    assert again.verdict == "valid", again.to_json()
