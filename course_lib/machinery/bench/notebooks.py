"""Notebook timing: each solutions notebook executed headless in a fresh kernel, one at a time,
with its wall time, the peak memory of its kernel, and the headline results it recorded.

`run_notebooks` runs each notebook from a process of its own, `python -m
course_lib.machinery.bench.notebooks PATH [--inplace]`, which prints the notebook's row as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from ... import training
from .. import results
from ..execution import execute_notebook

REFERENCE_REPORT = "01_gru_no_attention"  # what notebook 01 saves, with its training speed


def run_one_notebook(path: Path, inplace: bool = False) -> dict:
    """Execute one notebook in a fresh kernel: wall time, and the peak resident memory of the
    kernel (its high-water mark, read from /proc while it runs), with what the notebook recorded
    (`results.record`)."""
    number = path.stem.split("_")[0]
    results.forget(number)
    peak_kb, running = [0], [True]

    def watch():
        while running[0]:
            for child in psutil.Process().children(recursive=True):
                peak_kb[0] = max(peak_kb[0], _high_water_kb(child.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        seconds = execute_notebook(path, output_path=path if inplace else None)
    finally:
        running[0] = False
        watcher.join()
    return {
        "notebook": path.stem,
        "seconds": round(seconds, 1),
        "peak_memory_mb": round(peak_kb[0] / 1024),
        "results": results.recorded(number),
    }


def _high_water_kb(pid: int) -> int:
    """VmHWM (the peak resident set size so far) of a process, in kB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_notebooks(paths: list[Path], inplace: bool = False) -> list[dict]:
    """`run_one_notebook` for each path, each in a process of its own (so that one notebook's
    memory is not counted in the next one's peak). Stops at the first failing notebook."""
    rows = []
    for path in paths:
        print(f"{path.name} ...", end=" ", flush=True)
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "course_lib.machinery.bench.notebooks",
                str(path),
                *(["--inplace"] if inplace else []),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "COURSE_LIB_QUIET": "1"},
        )
        if completed.returncode != 0:
            print("FAILED")
            print(completed.stderr[-2000:])
            raise SystemExit(1)
        row = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"{row['seconds']:.0f} s, {row['peak_memory_mb']} MB")
        rows.append(row)
    return rows


def merged_rows(earlier: list[dict], fresh: list[dict], order: list[str]) -> list[dict]:
    """The rows of a full run (`earlier`) with the `fresh` ones in their place, including fresh
    rows of notebooks that had none yet, in course `order` (the notebook stems there are now:
    rows of notebooks that no longer exist are dropped)."""
    by_notebook = {row["notebook"]: row for row in earlier}
    by_notebook.update({row["notebook"]: row for row in fresh})
    return [by_notebook[name] for name in order if name in by_notebook]


def reference_step_ms() -> float | None:
    """Milliseconds per training step of notebook 01's GRU translator (the course's translation
    recipe), as notebook 01 measured them on its last run here; None if it has not run."""
    saved = results.load(REFERENCE_REPORT, key=training.TRANSLATION_RECIPE)
    return saved["training"]["ms_per_step"] if saved else None


if __name__ == "__main__":
    notebook, *options = sys.argv[1:]
    print(json.dumps(run_one_notebook(Path(notebook), inplace="--inplace" in options)))
