"""The benchmark (`python -m course_lib.machinery.bench`): its measurements are in
benchmarks/*.json, the README's generated tables agree with them, every missed ratio target is
explained, and the notebook table comes from the catalogue."""

import itertools

import pytest

from course_lib.machinery.bench import gpu, implementation, measurements, readme
from course_lib.machinery.bench.notebooks import merged_rows
from course_lib.machinery.catalog import CATALOG
from course_lib.machinery.paths import README, SOLUTIONS_DIR
from course_lib.timing import interleaved_ratio


def test_readme_tables_are_generated_from_the_benchmark_results():
    text = README.read_text()
    assert readme.generated_readme(text) == text, (
        "the README's generated tables differ from benchmarks/*.json: run "
        "`python -m course_lib.machinery.bench --readme`"
    )


def test_every_solutions_notebook_was_timed_within_budget_and_records_its_headline_results():
    """Budgets are checked on times scaled to the machine they were set on (measurements
    explains why): the benchmark records how fast its own machine ran notebook 01's step."""
    timed = measurements.load("notebooks")
    step_ms = timed["reference_step_ms"]
    rows = {row["notebook"]: row for row in timed["rows"]}
    for path in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        row = rows[path.stem]
        seconds = measurements.scaled_to_budget_machine(row["seconds"], step_ms)
        assert 0 < seconds <= 180, f"{path.stem} is over its 3-minute budget"
        assert row["peak_memory_mb"] > 0
        if not path.stem.startswith("00"):
            assert row["results"], f"{path.stem} recorded no headline result"
        for result in row["results"]:
            assert result["baseline"] is not None and result["baseline_name"]
    total = sum(row["seconds"] for row in rows.values())
    assert measurements.scaled_to_budget_machine(total, step_ms) <= 20 * 60


def test_times_are_scaled_by_the_machines_reference_step():
    fast = measurements.BUDGET_MACHINE_STEP_MS
    assert measurements.scaled_to_budget_machine(100.0, fast) == 100.0
    assert measurements.scaled_to_budget_machine(150.0, 1.5 * fast) == pytest.approx(100.0)


def test_every_missed_ratio_target_has_an_explanation():
    for case in measurements.load("implementation")["cases"]:
        if case["target"] is not None and not case["meets_target"]:
            assert implementation.explanation(case), f"missed target: {case['what']}"


def test_interleaved_ratio_compares_medians_of_runs_taken_in_turns():
    """A fake clock makes the timing exact: `ours` takes 4 ticks, `reference` 2, except one slow
    outlier of each, which the medians ignore; the order alternates A B, B A, ..."""
    now, calls = itertools.count(), []

    def clock():
        return float(next(now))

    def run(name, ticks):
        def fn():
            calls.append(name)
            for _ in range(ticks(len(calls)) - 1):
                clock()

        return fn

    ours = run("ours", lambda n: 40 if n == 7 else 4)
    reference = run("reference", lambda n: 20 if n == 8 else 2)
    result = interleaved_ratio(ours, reference, repeats=6, warmup=1, clock=clock)
    assert result["ratio"] == 2.0 and result["ours_ms"] == 4000.0
    assert calls[2:6] == ["ours", "reference", "reference", "ours"]


def test_attention_cases_run_and_report_ratios():
    cases = implementation._attention_cases(repeats=2)
    assert len(cases) == 3 and all(case["ratio"] > 0 for case in cases)


def test_model_flop_utilisation_inputs():
    assert gpu.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu.peak_flops("some laptop GPU") is None
    assert gpu.training_flops_per_token(1000, 2, 128, 64) == 6 * 1000 + 12 * 2 * 128 * 64


def test_the_notebook_table_comes_from_the_catalogue_and_shows_untimed_notebooks():
    rows = [{"notebook": "01_rnn_baselines", "seconds": 61.4, "peak_memory_mb": 1234}]
    table = readme.notebook_table(rows).splitlines()
    assert len(table) == 2 + len(CATALOG)
    first, second = table[2], table[3]
    assert "[orientation](solutions/00_orientation.ipynb)" in first
    assert "not timed yet" in first
    assert "| 61 s | 1,234 MB | RNN step, GRU step, LSTM step, the encoder–decoder |" in second


def test_timing_one_new_notebook_adds_its_row_in_course_order():
    earlier = [{"notebook": "00_a"}, {"notebook": "02_c"}, {"notebook": "03_gone"}]
    fresh = [{"notebook": "01_b", "seconds": 1}]
    merged = merged_rows(earlier, fresh, ["00_a", "01_b", "02_c"])
    assert [row["notebook"] for row in merged] == ["00_a", "01_b", "02_c"]
    assert merged[1] == fresh[0]


def test_the_quality_table_rounds_half_up():
    assert readme.one_decimal(96.35) == "96.4" and readme.one_decimal(0.04) == "0.0"


def test_a_mean_over_seeds_shows_its_spread():
    rows = [
        {
            "results": [
                {
                    "notebook": "06",
                    "task": "t",
                    "metric": "accuracy",
                    "value": 83.46,
                    "baseline": 50.0,
                    "baseline_name": "chance",
                    "spread": 1.25,
                },
                {
                    "notebook": "07",
                    "task": "u",
                    "metric": "accuracy",
                    "value": 95.0,
                    "baseline": None,
                    "baseline_name": "",
                    "spread": None,
                },
            ]
        }
    ]
    table = readme.quality_table(rows)
    assert "| 83.5 ± 1.3 | 50.0 (chance) |" in table and "| 95.0 | — |" in table


def test_a_missing_readme_section_is_named():
    with pytest.raises(ValueError, match="bench:quality"):
        readme.replace_section("no markers here", "quality", "body")
