import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.machinery.authoring import (
    CODE_STUB,
    AuthoringError,
    build_notebooks,
    make_student_notebook,
    notebook_to_text,
    replace_regions,
)
from course_lib.machinery.paths import COURSE_ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _replace(text):
    return replace_regions(text, BEGIN, END, CODE_STUB, "test")


def test_solution_region_becomes_the_stub_indented_like_the_marker():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION"
    assert _replace(text) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"


def test_text_around_regions_is_kept_and_several_regions_work():
    text = (
        "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n### BEGIN SOLUTION\n"
        "d = 4\n### END SOLUTION\n"
    )
    assert _replace(text) == (
        "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nc = 3\n"
        "# YOUR CODE HERE\nraise NotImplementedError()\n"
    )


def test_hidden_tests_are_removed():
    text = "check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, seed=1)\n### END HIDDEN TESTS"
    assert (
        replace_regions(text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", None, "t")
        == "check(f)"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_broken_markers_name_the_problem(text, message):
    with pytest.raises(AuthoringError, match=message):
        _replace(text)


def _notebook(*cells):
    return {
        "cells": list(cells),
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(source, nbgrader=None, outputs=None, **metadata):
    if nbgrader is not None:
        metadata["nbgrader"] = nbgrader
    return {
        "cell_type": "code",
        "execution_count": 3,
        "id": source[:8].strip() or "x",
        "metadata": metadata,
        "outputs": outputs or [],
        "source": source,
    }


def test_student_notebook_clears_outputs_and_keeps_everything_else():
    output = [{"name": "stdout", "output_type": "stream", "text": "hi\n"}]
    solution = _notebook(
        {"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["# Title\n", "text"]},
        _code("print('hi')", outputs=output, execution={"iopub.status.busy": "2026"}),
        _code(
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
            nbgrader={"solution": True, "grade_id": "f-sol"},
            tags=["keep"],
        ),
        _code(
            "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 2\n### END HIDDEN TESTS",
            nbgrader={"grade": True, "grade_id": "f", "points": 1},
        ),
    )
    student = make_student_notebook(solution)
    markdown, printing, exercise, check = student["cells"]
    assert markdown == solution["cells"][0]
    assert printing["source"] == "print('hi')"
    assert printing["outputs"] == [] and printing["execution_count"] is None
    assert "execution" not in printing["metadata"]
    assert exercise["source"] == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert exercise["metadata"] == solution["cells"][2]["metadata"]
    assert check["source"] == "assert f() == 1"
    assert solution["cells"][1]["outputs"] == output  # the solution itself is untouched


def test_markdown_answers_become_your_answer_here():
    solution = _notebook(
        {
            "cell_type": "markdown",
            "id": "q",
            "metadata": {"nbgrader": {"solution": True, "grade_id": "q"}},
            "source": "### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
        }
    )
    assert make_student_notebook(solution)["cells"][0]["source"] == "YOUR ANSWER HERE"


def test_markers_need_a_grade_id_and_checks_need_points():
    with pytest.raises(AuthoringError, match="no nbgrader metadata"):
        make_student_notebook(_notebook(_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")), "nb")
    with pytest.raises(AuthoringError, match="without positive 'points'"):
        make_student_notebook(
            _notebook(_code("assert True", nbgrader={"grade": True, "grade_id": "g"}))
        )


def _write(folder: Path, name: str, notebook: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(notebook_to_text(notebook))


def test_build_and_check_detect_missing_stale_and_orphan_notebooks(tmp_path):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    _write(solutions, "01_a.ipynb", _notebook(_code("x = 1")))
    assert build_notebooks(solutions, notebooks, check=True).stale == [
        f"{notebooks / '01_a.ipynb'} is missing"
    ]
    result = build_notebooks(solutions, notebooks)
    assert result.written == [str(notebooks / "01_a.ipynb")]
    assert build_notebooks(solutions, notebooks, check=True).stale == []
    _write(solutions, "01_a.ipynb", _notebook(_code("x = 2")))
    assert "out of date" in build_notebooks(solutions, notebooks, check=True).stale[0]
    build_notebooks(solutions, notebooks)
    _write(notebooks, "99_extra.ipynb", _notebook())
    assert "has no source" in build_notebooks(solutions, notebooks, check=True).stale[0]


def test_grade_ids_must_be_unique_across_the_course(tmp_path):
    cell = _code("assert True", nbgrader={"grade": True, "grade_id": "same", "points": 1})
    _write(tmp_path, "01_a.ipynb", _notebook(cell))
    _write(tmp_path, "02_b.ipynb", _notebook(cell))
    with pytest.raises(AuthoringError, match="'same' is used twice"):
        build_notebooks(tmp_path, tmp_path / "out")


def test_the_course_notebooks_are_in_sync_with_the_solutions():
    """notebooks/ is generated: it must be exactly what the generator makes from solutions/."""
    completed = subprocess.run(
        [sys.executable, "-m", "course_lib", "build-notebooks", "--check"],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr


def test_check_mode_exits_non_zero_and_names_the_stale_notebook(tmp_path):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    _write(solutions, "03_x.ipynb", _notebook(_code("x = 1")))
    command = [
        sys.executable,
        "-m",
        "course_lib",
        "--solutions",
        str(solutions),
        "build-notebooks",
        "--notebooks",
        str(notebooks),
        "--check",
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 1
    assert "03_x.ipynb is missing" in completed.stderr


def test_solutions_are_stored_the_way_jupyter_writes_them():
    for path in (COURSE_ROOT / "solutions").glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        assert text == notebook_to_text(json.loads(text)), path.name
