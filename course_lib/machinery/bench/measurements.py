"""Where the benchmark keeps its measurements (benchmarks/*.json), and the machine they were
taken on."""

from __future__ import annotations

import json
import os
import platform

import torch

from ..paths import BENCHMARKS_DIR


def machine() -> str:
    """The machine, in words: "x86_64, 2 CPU cores, torch 2.13.0+cpu (2 threads), no GPU"."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), no GPU"
    )


def load(name: str) -> dict | None:
    """benchmarks/`name`.json, or None if that measurement was never taken."""
    path = BENCHMARKS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def save(name: str, data: dict) -> None:
    BENCHMARKS_DIR.mkdir(exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    (BENCHMARKS_DIR / f"{name}.json").write_text(text)
