"""Where the benchmark keeps its measurements (benchmarks/*.json), the machine they were taken
on, and how fast that machine is.

Machines of the same kind ("2 CPU cores") differ in speed: the same code ran notebook 01's GRU
step in 39 ms on one and 55 ms on another (an AMD EPYC, where PyTorch's Intel math library is
slower). So the notebook timings come with the machine's time for one reference step (notebook
01's GRU translator, one training step of the course's translation recipe, as notebook 01 itself
measures it), and the notebook budgets are checked on times scaled to the machine the budgets
were set on.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from ..paths import BENCHMARKS_DIR

# The reference step on the machine the budgets were set on: notebook 01 trained its 1,500 steps
# at 39 ms each in the benchmark run of 2026-11-30 (README, "ms per step").
BUDGET_MACHINE_STEP_MS = 39.0


def machine() -> str:
    """The machine, in words: "x86_64 (AMD EPYC), 2 CPU cores, torch 2.13.0+cpu (2 threads),
    no GPU"."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return (
        f"{platform.machine()}{_cpu_model()}, {os.cpu_count()} CPU cores, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), no GPU"
    )


def _cpu_model() -> str:
    """ " (AMD EPYC)": the processor's name, where the system says it (Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return f" ({names[0]})" if names else ""


def scaled_to_budget_machine(seconds: float, reference_step_ms: float) -> float:
    """`seconds` measured on a machine whose reference step takes `reference_step_ms`, as they
    would be on the machine the budgets were set on."""
    return seconds * BUDGET_MACHINE_STEP_MS / reference_step_ms


def load(name: str) -> dict | None:
    """benchmarks/`name`.json, or None if that measurement was never taken."""
    path = BENCHMARKS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def save(name: str, data: dict) -> None:
    BENCHMARKS_DIR.mkdir(exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    (BENCHMARKS_DIR / f"{name}.json").write_text(text)
