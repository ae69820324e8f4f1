"""A notebook's saved results: the one place notebooks keep what a later notebook, or the
benchmark, reads back. Everything lives in the course cache (`.course_cache/results/`).

Two kinds, one API:

    results.save("01_gru_no_attention", report.to_dict(), key=TRANSLATION_RECIPE)
    results.load("01_gru_no_attention", key=TRANSLATION_RECIPE)  # None if not saved, or if
                                                                # saved under another key

keeps any JSON-able data for a later notebook (`key` names the settings it depends on: data
saved under other settings is not reused), and

    results.record("04", "translate numbers (Transformer)", "exact match", 96.4, 0.0,
                   "copy the input")

keeps a notebook's headline figure beside its trivial baseline; `python -m
course_lib.machinery.bench --notebooks` runs every notebook and collects what each recorded
(`recorded`) into the README's quality table.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data import cache_dir


def _path(name: str) -> Path:
    return cache_dir() / "results" / f"{name}.json"


def save(name: str, data, key=None) -> None:
    """Keep `data` (JSON-able) under `name`, with the settings `key` (JSON-able) it came from."""
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "data": data}, indent=1))


def load(name: str, key=None):
    """What `save(name, ...)` kept, or None if nothing was saved under `name` with this `key`
    (the notebook that saves it has not run, or ran with other settings)."""
    path = _path(name)
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    # JSON turns tuples into lists: compare keys as JSON sees them
    if saved["key"] != json.loads(json.dumps(key)):
        return None
    return saved["data"]


def record(
    notebook: str,
    task: str,
    metric: str,
    value: float,
    baseline: float | None,
    baseline_name: str,
    spread: float | None = None,
) -> None:
    """Keep one headline figure of `notebook` (replacing an earlier one for the same task).
    `spread`: the sample standard deviation when `value` is a mean over seeds or folds (the
    quality table then shows "mean ± spread")."""
    kept = [row for row in recorded(notebook) if row["task"] != task]
    kept.append(
        {
            "notebook": notebook,
            "task": task,
            "metric": metric,
            "value": round(float(value), 6),
            "baseline": None if baseline is None else round(float(baseline), 6),
            "baseline_name": baseline_name,
            "spread": None if spread is None else round(float(spread), 6),
        }
    )
    save(f"headline-{notebook}", kept)


def recorded(notebook: str) -> list[dict]:
    """What `notebook` recorded, in the order it recorded it ([] if it has not run)."""
    return load(f"headline-{notebook}") or []


def forget(notebook: str) -> None:
    """Drop what `notebook` recorded (before running it again)."""
    save(f"headline-{notebook}", [])
