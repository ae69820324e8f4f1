"""From solutions to student notebooks: `python -m course_lib build-notebooks [--check]`.

`solutions/` is the only source. Each solutions notebook marks the learner's part with nbgrader's
markers, so the same files also work with nbgrader:

    ### BEGIN SOLUTION            ->  # YOUR CODE HERE
    ...the answer...                  raise NotImplementedError()
    ### END SOLUTION

    ### BEGIN HIDDEN TESTS        ->  (removed; the grader still runs them)
    ...
    ### END HIDDEN TESTS

In markdown cells a solution region becomes "YOUR ANSWER HERE". Outputs, execution counts and
execution timings are cleared; everything else is kept exactly as written. Cells holding markers
must carry nbgrader metadata (a `grade_id`), and graded check cells must state their `points`:
the grader relies on both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]


class AuthoringError(ValueError):
    """A solutions notebook breaks the authoring rules; the message names notebook and cell."""


def read_notebook_json(path: Path) -> dict:
    """The notebook as plain JSON (not nbformat objects): writing it back changes nothing."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def notebook_to_text(notebook: dict) -> str:
    """Serialise exactly as Jupyter and nbformat do (indent 1, sorted keys, final newline)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _set_source(cell: dict, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines if isinstance(cell.get("source"), list) else text


def grading_metadata(cell: dict) -> dict:
    """The cell's nbgrader metadata (empty if it has none)."""
    metadata = cell.get("metadata", {}).get("nbgrader", {})
    return metadata if isinstance(metadata, dict) else {}


def replace_regions(text: str, begin: str, end: str, stub: list[str] | None, where: str) -> str:
    """Replace each `begin`...`end` region (marker lines included) by `stub`, indented like the
    begin marker, or drop it when `stub` is None."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped.startswith(begin):
            if inside:
                raise AuthoringError(f"{where}: line {number} opens {begin!r} inside another one")
            inside = True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + stub_line + "\n" for stub_line in stub)
        elif stripped.startswith(end):
            if not inside:
                raise AuthoringError(f"{where}: line {number} has {end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AuthoringError(f"{where}: {begin!r} is never closed by {end!r}")
    result = "".join(out)
    if not text.endswith("\n"):  # Jupyter stores a cell without its final newline
        result = result.removesuffix("\n")
    return result


def make_student_notebook(solution: dict, name: str = "notebook") -> dict:
    """The student version of a solutions notebook (given and returned as plain JSON)."""
    student = json.loads(json.dumps(solution))  # a deep copy
    student.get("metadata", {}).pop("widgets", None)  # saved widget state is an output
    for index, cell in enumerate(student.get("cells", [])):
        where = f"{name}, cell {index}"
        text = cell_source(cell)
        has_markers = any(marker in text for marker in (SOLUTION_BEGIN, HIDDEN_BEGIN))
        metadata = grading_metadata(cell)
        if has_markers and not metadata.get("grade_id"):
            raise AuthoringError(
                f"{where} has solution or hidden-test markers but no nbgrader metadata with a "
                "grade_id: add {'nbgrader': {'grade_id': ..., 'solution': true, ...}} to it"
            )
        if metadata.get("grade") and cell.get("cell_type") == "code":
            if not isinstance(metadata.get("points"), (int, float)) or metadata["points"] <= 0:
                raise AuthoringError(f"{where} is a graded check cell without positive 'points'")
        stub = MARKDOWN_STUB if cell.get("cell_type") == "markdown" else CODE_STUB
        text = replace_regions(text, SOLUTION_BEGIN, SOLUTION_END, stub, where)
        text = replace_regions(text, HIDDEN_BEGIN, HIDDEN_END, None, where)
        if has_markers:
            _set_source(cell, text)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)  # timings recorded by a run
    return student


def check_unique_grade_ids(solutions: dict[str, dict]) -> None:
    """Every grade_id is unique across the whole course: the grader finds exercises by it."""
    seen: dict[str, str] = {}
    for name, notebook in solutions.items():
        for index, cell in enumerate(notebook.get("cells", [])):
            grade_id = grading_metadata(cell).get("grade_id")
            if not grade_id:
                continue
            where = f"{name}, cell {index}"
            if grade_id in seen:
                raise AuthoringError(
                    f"grade_id {grade_id!r} is used twice: {seen[grade_id]} and {where}"
                )
            seen[grade_id] = where


@dataclass
class BuildResult:
    written: list[str]
    stale: list[str]  # what differs (check mode) or would have been rewritten


def build_notebooks(solutions_dir: Path, notebooks_dir: Path, check: bool = False) -> BuildResult:
    """Generate `notebooks_dir` from `solutions_dir`; with `check`, only report what is stale."""
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise AuthoringError(f"no notebooks found in {solutions_dir}")
    solutions = {path.name: read_notebook_json(path) for path in sources}
    check_unique_grade_ids(solutions)
    written, stale = [], []
    for name, solution in solutions.items():
        text = notebook_to_text(make_student_notebook(solution, name))
        target = notebooks_dir / name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(f"{target} is {'missing' if current is None else 'out of date'}")
        if not check:
            notebooks_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(str(target))
    for orphan in sorted(set(p.name for p in notebooks_dir.glob("*.ipynb")) - set(solutions)):
        stale.append(f"{notebooks_dir / orphan} has no source in {solutions_dir}")
    return BuildResult(written=written, stale=stale)
