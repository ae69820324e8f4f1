"""Timing small pieces of code fairly: warm up first, repeat, report the median; compare two
pieces of code by timing them in turns, so that whatever else the machine does slows both."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of `fn()` over `repeats` calls, after `warmup` untimed calls.

    Waits for the GPU (when one is used) before reading the clock, so GPU work is counted.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_ratio(
    ours: Callable[[], object],
    reference: Callable[[], object],
    repeats: int = 30,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Median seconds of `ours` and of `reference`, timed alternately (A B B A A B ...), and the
    ratio of the medians: {"ours_ms", "reference_ms", "ratio", "repeats"}."""
    for _ in range(warmup):
        ours()
        reference()
    times = {"ours": [], "reference": []}
    for repeat in range(repeats):
        order = (("ours", ours), ("reference", reference))
        for name, fn in order if repeat % 2 == 0 else order[::-1]:
            synchronize()
            started = clock()
            fn()
            synchronize()
            times[name].append(clock() - started)
    ours_median = statistics.median(times["ours"])
    reference_median = statistics.median(times["reference"])
    return {
        "ours_ms": 1000 * ours_median,
        "reference_ms": 1000 * reference_median,
        "ratio": ours_median / reference_median,
        "repeats": repeats,
    }


def synchronize() -> None:
    """Wait for the GPU's queued work (when there is a GPU), so that the clock counts it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
