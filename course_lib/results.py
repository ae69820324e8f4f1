"""The notebooks' headline results, kept for the benchmark's quality table.

A notebook's last result cell calls

    results.record("04", "translate numbers (Transformer)", "exact match", 96.4, 0.0,
                   "copy the input")

which keeps the figure in the cache (`.course_cache/reports/`); `python -m course_lib.bench
--notebooks` runs every notebook and collects what they recorded into one table, each metric
beside its trivial baseline.
"""

from __future__ import annotations

from .paths import load_report_data, save_report_data


def record(
    notebook: str,
    task: str,
    metric: str,
    value: float,
    baseline: float | None,
    baseline_name: str,
) -> None:
    """Keep one headline figure of `notebook` (replacing an earlier one for the same task)."""
    name = f"headline-{notebook}"
    kept = [row for row in load_report_data(name) or [] if row["task"] != task]
    kept.append(
        {
            "notebook": notebook,
            "task": task,
            "metric": metric,
            "value": round(float(value), 6),
            "baseline": None if baseline is None else round(float(baseline), 6),
            "baseline_name": baseline_name,
        }
    )
    save_report_data(name, kept)


def recorded(notebook: str) -> list[dict]:
    """What `notebook` recorded, in the order it recorded it ([] if it has not run)."""
    return load_report_data(f"headline-{notebook}") or []


def forget(notebook: str) -> None:
    """Drop what `notebook` recorded (before running it again)."""
    save_report_data(f"headline-{notebook}", [])


def copy_baseline(sources, targets) -> float:
    """Exact match (%) of answering each source with itself: the translation baseline."""
    pairs = list(zip(sources, targets, strict=True))
    return 100 * sum(source == target for source, target in pairs) / max(len(pairs), 1)
