"""The benchmark (`python -m course_lib.bench`): its measurements are in benchmarks/*.json, the
README's generated tables agree with them, and every missed ratio target is explained."""

import json
import time

import pytest

from course_lib import bench

COURSE_ROOT = bench.ROOT


def _load(name):
    return json.loads((COURSE_ROOT / "benchmarks" / name).read_text())


def test_readme_tables_are_generated_from_the_benchmark_results():
    readme = (COURSE_ROOT / "README.md").read_text()
    assert bench.generated_readme(readme) == readme, (
        "the README's generated tables differ from benchmarks/*.json: run "
        "`python -m course_lib.bench --readme`"
    )


def test_every_solutions_notebook_was_timed_and_records_its_headline_results():
    rows = {row["notebook"]: row for row in _load("notebooks.json")["rows"]}
    for path in sorted((COURSE_ROOT / "solutions").glob("*.ipynb")):
        row = rows[path.stem]
        assert 0 < row["seconds"] <= 180, f"{path.stem} is over its 3-minute budget"
        assert row["peak_memory_mb"] > 0
        if not path.stem.startswith("00"):
            assert row["results"], f"{path.stem} recorded no headline result"
        for result in row["results"]:
            assert result["baseline"] is not None and result["baseline_name"]
    assert sum(row["seconds"] for row in rows.values()) <= 20 * 60


def test_every_missed_ratio_target_has_an_explanation():
    for case in _load("implementation.json")["cases"]:
        if case["target"] is not None and not case["meets_target"]:
            assert bench.explanation(case), f"missed target without an explanation: {case['what']}"


def test_interleaved_ratio_compares_medians():
    result = bench.interleaved_ratio(
        lambda: time.sleep(0.004), lambda: time.sleep(0.002), repeats=6, warmup=1
    )
    assert result["ratio"] == pytest.approx(2.0, rel=0.35)


def test_attention_cases_run_and_report_ratios():
    cases = bench._attention_cases(repeats=2)
    assert len(cases) == 3 and all(case["ratio"] > 0 for case in cases)


def test_model_flop_utilisation_inputs():
    assert bench.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert bench.peak_flops("some laptop GPU") is None
    assert bench.training_flops_per_token(1000, 2, 128, 64) == 6 * 1000 + 12 * 2 * 128 * 64
