"""Device choice and seeding: the first call of every notebook.

    device = course_lib.setup(seed=0)

picks CUDA, then Apple MPS, then the CPU, and seeds Python, NumPy and PyTorch so that a
notebook gives the same numbers every time it runs on the same machine.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"  # set to "cpu", "cuda" or "mps" to override the automatic choice
KNOWN_DEVICES = ("cuda", "mps", "cpu")


def choose_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    `prefer` (or the COURSE_DEVICE environment variable) forces one; asking for a device this
    machine does not have is an error rather than a silent fallback.
    """
    wanted = prefer or os.environ.get(DEVICE_ENV_VAR) or None
    if wanted is not None:
        kind = wanted.split(":")[0]
        if kind not in KNOWN_DEVICES:
            raise ValueError(
                f"unknown device {wanted!r}: expected one of {', '.join(KNOWN_DEVICES)}"
            )
        if not _available(kind):
            raise RuntimeError(f"device {wanted!r} was asked for but this machine has no {kind}")
        return torch.device(wanted)
    for kind in ("cuda", "mps"):
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy and PyTorch (every device) with `seed`."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def setup(seed: int = 0, device: str | None = None) -> torch.device:
    """Seed everything with `seed` and return the device to use (see `choose_device`)."""
    seed_everything(seed)
    return choose_device(device)


def environment_report() -> dict[str, str]:
    """Versions and hardware facts a notebook prints at the top (they differ between machines)."""
    device = choose_device()
    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cpu threads used by torch": str(torch.get_num_threads()),
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    return report
