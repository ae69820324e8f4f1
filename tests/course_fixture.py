"""A tiny course with two exercises, and submissions that break it in every way we know.

The grader tests build it in a temporary folder: a solutions notebook with a checker-based
exercise (softmax, 2 points) and a plain-assert exercise (add, 1 point), its student version,
and variants of both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from course_lib.machinery.authoring import make_student_notebook, notebook_to_text

NOTEBOOK = "90_grading_fixture"


def _cell(source: str, cell_id: str, nbgrader: dict | None = None, tags=None) -> dict:
    metadata = {}
    if nbgrader:
        metadata["nbgrader"] = {
            "schema_version": 3,
            "locked": False,
            "task": False,
            "solution": False,
            "grade": False,
            **nbgrader,
        }
    if tags:
        metadata["tags"] = tags
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": metadata,
        "outputs": [],
        "source": source,
    }


SOFTMAX_SOLUTION = """import torch


def softmax(x, dim=-1):
    ### BEGIN SOLUTION
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
    ### END SOLUTION"""

ADD_SOLUTION = """def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION"""


def solution_notebook() -> dict:
    cells = [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Fixture"},
        _cell("from course_lib import check", "setup"),
        _cell(SOFTMAX_SOLUTION, "softmax-code", {"solution": True, "grade_id": "fx-softmax-sol"}),
        _cell(
            "check.softmax(softmax)\n### BEGIN HIDDEN TESTS\ncheck.softmax(softmax, seed=5)\n"
            "### END HIDDEN TESTS",
            "softmax-check",
            {"grade": True, "locked": True, "points": 2, "grade_id": "fx-softmax"},
        ),
        _cell(ADD_SOLUTION, "add-code", {"solution": True, "grade_id": "fx-add-sol"}),
        _cell(
            "# A slow demo that the grader must skip: if it ran, it would break `add`.\n"
            "def add(a, b):\n    return 0",
            "slow-demo",
            tags=["grader-skip"],
        ),
        _cell(
            'assert add(2, 3) == 5, "add(2, 3) should be 5"\n### BEGIN HIDDEN TESTS\n'
            'assert add(-1, 1) == 0, "add(-1, 1) should be 0"\n### END HIDDEN TESTS',
            "add-check",
            {"grade": True, "locked": True, "points": 1, "grade_id": "fx-add"},
        ),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _with_sources(notebook: dict, **sources: str) -> dict:
    """A copy of `notebook` with the sources of the cells with these ids replaced."""
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        key = cell["id"].replace("-", "_")
        if key in sources:
            cell["source"] = sources[key]
    return copy


def _without(notebook: dict, *cell_ids: str) -> dict:
    copy = json.loads(json.dumps(notebook))
    copy["cells"] = [cell for cell in copy["cells"] if cell["id"] not in cell_ids]
    return copy


def _with_extra_cell(notebook: dict, source: str) -> dict:
    copy = json.loads(json.dumps(notebook))
    copy["cells"].insert(2, _cell(source, "extra"))
    return copy


def _check_copied_above(notebook: dict) -> dict:
    """The learner copied the softmax check cell above the solution (it fails there)."""
    copy = json.loads(json.dumps(notebook))
    check = next(cell for cell in copy["cells"] if cell["id"] == "softmax-check")
    copy["cells"].insert(1, {**json.loads(json.dumps(check)), "id": "copied-check"})
    return copy


def _damaged(notebook: dict) -> dict:
    copy = json.loads(json.dumps(notebook))
    copy["cells"][1]["source"] = None
    copy["cells"][2]["metadata"]["tags"] = None
    return copy


UNDECODABLE_NAME = b"latin1-\xe9t\xe9.ipynb"  # a name that is not valid UTF-8 (from an old zip)

UNSTABLE_SOFTMAX = (
    "def softmax(x, dim=-1):\n    return x.exp() / x.exp().sum(dim=dim, keepdim=True)"
)


# A function whose error message quotes a hidden test's code, as if it had dug it out of memory:
# the grader must not pass it on.
LEAKS_A_HIDDEN_LINE = (
    "def softmax(x, dim=-1):\n    raise ValueError('check.softmax(softmax, seed=5)')\n"
)


def submissions() -> dict[str, str | dict]:
    """File name -> notebook JSON (or raw text) of every case the grader must survive."""
    solution = solution_notebook()
    blank = make_student_notebook(solution, NOTEBOOK)
    return {
        "blank.ipynb": blank,
        "solutions.ipynb": solution,
        "one_wrong.ipynb": _with_sources(solution, softmax_code=UNSTABLE_SOFTMAX),
        "exception.ipynb": _with_sources(solution, softmax_code="raise ValueError('oops')"),
        "infinite_loop.ipynb": _with_sources(solution, add_code="while True:\n    pass"),
        "loop_ignoring_interrupts.ipynb": _with_sources(
            solution,
            add_code="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    pass",
        ),
        "sys_exit.ipynb": _with_sources(solution, setup="import sys\nsys.exit()"),
        "exit_call.ipynb": _with_sources(solution, setup="from course_lib import check\nexit()"),
        "kernel_dies.ipynb": _with_sources(
            solution,
            setup="from course_lib import check\nimport os, signal\n"
            "os.kill(os.getpid(), signal.SIGKILL)",
        ),
        "dies_in_check.ipynb": _with_sources(
            solution, add_code="import os\n\ndef add(a, b):\n    os._exit(1)"
        ),
        "edited_checks.ipynb": _with_sources(
            blank, softmax_check="print('✅ softmax: all good')", add_check="pass"
        ),
        "deleted_checks.ipynb": _without(solution, "softmax-check", "add-check"),
        "shadowed_check.ipynb": _with_sources(
            blank, setup="class check:\n    softmax = staticmethod(lambda f, **k: None)"
        ),
        "grades_itself.ipynb": _with_extra_cell(
            solution,
            "from course_lib.machinery.grading import grade_file\n"
            "grade_file('grades_itself.ipynb')",
        ),
        "unencodable_error.ipynb": _with_sources(
            solution, softmax_code="def softmax(x, dim=-1):\n    raise ValueError(chr(0xD800))"
        ),
        "check_copied_above.ipynb": _check_copied_above(solution),
        "leaks_a_hidden_line.ipynb": _with_sources(solution, softmax_code=LEAKS_A_HIDDEN_LINE),
        "damaged_metadata.ipynb": _damaged(solution),
        "corrupt.ipynb": '{"cells": [ {"cell_type": "code", "sour',
        "not_a_notebook.ipynb": '{"hello": "world"}',
        "essay.txt": "I did not do the exercises.",
    }


def build(root: Path) -> tuple[Path, Path]:
    """Write the fixture's solutions folder and submissions folder under `root`."""
    solutions, folder = root / "solutions", root / "submissions"
    solutions.mkdir(parents=True)
    folder.mkdir()
    (solutions / f"{NOTEBOOK}.ipynb").write_text(notebook_to_text(solution_notebook()))
    for name, content in submissions().items():
        text = content if isinstance(content, str) else notebook_to_text(content)
        (folder / name).write_text(text, encoding="utf-8")
    with open(os.path.join(os.fsencode(folder), UNDECODABLE_NAME), "wb") as handle:
        handle.write(notebook_to_text(solution_notebook()).encode())
    return solutions, folder
