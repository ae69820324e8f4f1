"""The README's generated tables: notebooks (from the catalogue and the notebook timings), headline
results beside their baselines, implementation cost, and GPU throughput. Each sits between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers; tests/test_bench.py checks that the
README agrees with what these functions generate."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..catalog import CATALOG
from . import measurements
from .implementation import explanation


def implementation_table(cases: list[dict]) -> str:
    lines = [
        "| what (forward + backward, float32, CPU) | course | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for case in cases:
        target = (
            "—"
            if case["target"] is None
            else (f"≤ {case['target']:g}× {'✅' if case['meets_target'] else '❌'}")
        )
        why = explanation(case) if case["target"] is not None and not case["meets_target"] else None
        if why:
            notes.append(why)
            target += f" (note {len(notes)})"
        lines.append(
            f"| {case['what']} | `{case['ours']}` | `{case['reference']}` | "
            f"{case['ratio']:.2f}× | {target} |"
        )
    lines += [""] + [f"Note {number}: {note}" for number, note in enumerate(notes, 1)]
    return "\n".join(lines).rstrip()


def gpu_table(rows: list[dict]) -> str:
    lines = [
        "| what (bf16 autocast, fused AdamW) | GPU | ms per step | tokens/s | MFU |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        mfu = "—" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%"
        lines.append(
            f"| {row['what']} | {row['device']} | {row['ms_per_step']:.1f} | "
            f"{row['tokens_per_s'] / 1e6:.2f}M | {mfu} |"
        )
    return "\n".join(lines)


def notebook_table(rows: list[dict]) -> str:
    """One line per catalogue entry: what it builds and its exercises (from the catalogue), its
    time and peak memory (from `rows`, "not timed yet" for a notebook without one)."""
    timed = {row["notebook"]: row for row in rows}
    lines = [
        "| # | notebook | what you build | run time* | peak memory | graded exercises |",
        "|---|---|---|---|---|---|",
    ]
    for entry in CATALOG:
        row = timed.get(entry.notebook)
        time_and_memory = (
            f"{row['seconds']:.0f} s | {row['peak_memory_mb']:,} MB" if row else "not timed yet | —"
        )
        lines.append(
            f"| {entry.number} | [{entry.name}](solutions/{entry.notebook}.ipynb) | "
            f"{entry.builds} | {time_and_memory} | {', '.join(entry.exercises.values())} |"
        )
    return "\n".join(lines)


def timing_note(notebooks: dict) -> str:
    """The footnote of the notebook table: where the times were measured, how fast that machine
    is (notebook 01's training step), and the series' time there and scaled to the machine the
    budgets were set on."""
    total = sum(row["seconds"] for row in notebooks["rows"])
    note = (
        "\\* Wall time and peak memory of the solutions notebook executed headless "
        "(`python -m course_lib.machinery.bench --notebooks`) on "
        f"{notebooks['machine']}: {total / 60:.1f} minutes for the series."
    )
    step_ms = notebooks.get("reference_step_ms")
    if step_ms is None:
        return note
    scaled = measurements.scaled_to_budget_machine(total, step_ms)
    return (
        f"{note} There notebook 01's training step took {step_ms:.0f} ms, against "
        f"{measurements.BUDGET_MACHINE_STEP_MS:.0f} ms on the machine the budgets below were set "
        f"on: scaled to that machine, {scaled / 60:.1f} minutes."
    )


def one_decimal(value: float) -> str:
    """`value` rounded half up to 1 decimal, as a person would: 96.35 -> 96.4 (float formatting
    would give 96.3, since 96.35 is stored as 96.34999...)."""
    return str(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def quality_table(rows: list[dict]) -> str:
    lines = [
        "| notebook | task (test split unless stated) | metric | model | trivial baseline |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        for result in row["results"]:
            baseline = (
                "—"
                if result["baseline"] is None
                else (f"{one_decimal(result['baseline'])} ({result['baseline_name']})")
            )
            value = one_decimal(result["value"])
            if result.get("spread") is not None:  # a mean over seeds or folds
                value += f" ± {one_decimal(result['spread'])}"
            lines.append(
                f"| {result['notebook']} | {result['task']} | {result['metric']} | "
                f"{value} | {baseline} |"
            )
    return "\n".join(lines)


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with what stands between its `bench:NAME` markers replaced by `body`."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start not in text or end not in text:
        raise ValueError(f"README has no {start} ... {end} section")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{body}\n{end}{after}"


def generated_readme(text: str) -> str:
    """The README with its generated sections rebuilt from benchmarks/*.json."""
    notebooks = measurements.load("notebooks") or {"machine": "—", "rows": []}
    implementation = measurements.load("implementation") or {"machine": "—", "cases": []}
    gpu = measurements.load("gpu")
    sections = {
        "notebooks": notebook_table(notebooks["rows"]),
        "notebooks-total": timing_note(notebooks),
        "quality": quality_table(notebooks["rows"]),
        "implementation": f"Measured on {implementation['machine']}:\n\n"
        + implementation_table(implementation["cases"]),
        "gpu": gpu_table(gpu["rows"])
        if gpu
        else "No GPU figures yet: no CUDA GPU was available where the benchmark last ran.",
    }
    for name, body in sections.items():
        text = replace_section(text, name, body)
    return text
