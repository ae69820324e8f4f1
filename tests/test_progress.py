"""`python -m course_lib progress`: the learner's table, graded once per content (cached)."""

import json
import subprocess
import sys
import time

import course_fixture
import pytest

from course_lib.machinery.authoring import make_student_notebook, notebook_to_text
from course_lib.machinery.paths import COURSE_ROOT
from course_lib.machinery.progress import progress

NOTEBOOK = course_fixture.NOTEBOOK


@pytest.fixture
def fixture_course(tmp_path, monkeypatch):
    """The fixture course's solutions, and a learner folder holding its notebook; the progress
    cache in a folder of its own."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    solutions, learner = tmp_path / "solutions", tmp_path / "learner"
    solutions.mkdir()
    learner.mkdir()
    solution = course_fixture.solution_notebook()
    (solutions / f"{NOTEBOOK}.ipynb").write_text(notebook_to_text(solution))
    return solutions, learner, solution


SOFTMAX = "import torch\n\n\ndef softmax(x, dim=-1):\n    return torch.softmax(x, dim=dim)\n"


def _write(folder, notebook):
    path = folder / f"{NOTEBOOK}.ipynb"
    path.write_text(notebook_to_text(notebook))
    return path


@pytest.mark.slow
def test_progress_counts_blank_partly_solved_and_solved_work_and_caches(fixture_course):
    solutions, learner, solution = fixture_course
    blank = make_student_notebook(solution, NOTEBOOK)
    _write(learner, blank)
    (row,) = progress([learner], solutions_dir=solutions)
    assert (row.passed, row.exercises, row.points, row.max_points) == (0, 2, 0, 3)
    assert row.next_exercise == "fx-softmax" and "not implemented yet" in row.hint

    partly = course_fixture._with_sources(blank, softmax_code=SOFTMAX)
    _write(learner, partly)
    (row,) = progress([learner], solutions_dir=solutions)
    assert (row.passed, row.points, row.next_exercise) == (1, 2, "fx-add"), row.hint
    assert not row.cached

    _write(learner, solution)
    (row,) = progress([learner], solutions_dir=solutions)
    assert (row.passed, row.points, row.hint) == (2, 3, "all done")
    started = time.monotonic()
    (again,) = progress([learner], solutions_dir=solutions)
    assert again.cached and time.monotonic() - started < 5
    assert (again.passed, again.points) == (row.passed, row.points)


@pytest.mark.slow
def test_progress_on_the_course_itself_blank_and_solved(tmp_path, monkeypatch):
    """A fresh clone's notebook 00 (nothing done: all zero, the first exercise named) and the
    solutions (full marks), through the command line, the second call from the cache."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    command = [sys.executable, "-m", "course_lib", "progress", "--json"]
    paths = [
        str(COURSE_ROOT / "notebooks" / "00_orientation.ipynb"),
        str(COURSE_ROOT / "solutions" / "04b_transformer_vs_gru.ipynb"),
    ]
    first = subprocess.run([*command, *paths], capture_output=True, text=True, timeout=600)
    rows = {row["notebook"]: row for row in json.loads(first.stdout)["notebooks"]}
    blank, solved = rows["00_orientation"], rows["04b_transformer_vs_gru"]
    assert blank["points"] == 0 and blank["next_exercise"] == "softmax"
    assert solved["points"] == solved["max_points"] > 0 and solved["next_exercise"] is None
    started = time.monotonic()
    second = subprocess.run([*command, *paths], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started <= 5
    again = json.loads(second.stdout)["notebooks"]
    assert all(row["cached"] for row in again)


def test_progress_names_files_that_are_not_course_notebooks(tmp_path):
    stray = tmp_path / "my_notes.ipynb"
    stray.write_text("{}")
    completed = subprocess.run(
        [sys.executable, "-m", "course_lib", "progress", str(stray)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "not one of the course's notebooks" in completed.stderr
