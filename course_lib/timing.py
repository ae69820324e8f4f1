"""Timing small pieces of code fairly: warm up first, repeat, report the median."""

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
        _synchronize()
        started = time.perf_counter()
        fn()
        _synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
