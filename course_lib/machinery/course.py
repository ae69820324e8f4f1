"""The course side of grading: which graded exercises each solutions notebook has, read from the
notebooks' nbgrader metadata (light: no kernel, no PyTorch, so `progress` can answer from its
cache quickly)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .authoring import HIDDEN_BEGIN, HIDDEN_END, cell_source, grading_metadata, read_notebook_json

SKIP_TAG = "grader-skip"  # cell tag: the grader does not run this cell
DEFAULT_MEMORY = "4G"  # memory cap of each grading kernel (`grade --memory`)
GRADING_ENV_VAR = "COURSE_LIB_GRADING"  # set inside grading kernels (so grading can't recurse)


@dataclass
class Exercise:
    """A graded check cell of a solutions notebook, and the solution cells it checks."""

    grade_id: str
    points: float
    source: str  # the check cell's code, hidden tests included
    solution_ids: list[str]  # grade_ids of the solution cells since the previous check
    previous_cell_id: str | None  # the id of the cell just before it, to put it back if deleted


@dataclass
class CourseNotebook:
    name: str  # file stem, e.g. "00_orientation"
    exercises: list[Exercise]
    skipped_cell_ids: set[str]
    grade_ids: set[str]  # of solution and check cells

    @property
    def max_points(self) -> float:
        return sum(exercise.points for exercise in self.exercises)


def load_course(solutions_dir: Path) -> dict[str, CourseNotebook]:
    """Every solutions notebook's exercises, by notebook name."""
    course = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        cells = read_notebook_json(path).get("cells", [])
        exercises, skipped, grade_ids, pending_solutions = [], set(), set(), []
        for index, cell in enumerate(cells):
            metadata = grading_metadata(cell)
            if SKIP_TAG in cell.get("metadata", {}).get("tags", []) and cell.get("id"):
                skipped.add(cell["id"])
            if metadata.get("grade_id"):
                grade_ids.add(metadata["grade_id"])
            if metadata.get("solution") and metadata.get("grade_id"):
                pending_solutions.append(metadata["grade_id"])
            if metadata.get("grade") and cell.get("cell_type") == "code":
                previous = cells[index - 1].get("id") if index > 0 else None
                exercises.append(
                    Exercise(
                        metadata["grade_id"],
                        float(metadata.get("points", 0)),
                        cell_source(cell),
                        pending_solutions,
                        previous,
                    )
                )
                pending_solutions = []
        course[path.stem] = CourseNotebook(path.stem, exercises, skipped, grade_ids)
    return course


def notebook_from_file_name(path: Path, course: dict[str, CourseNotebook]) -> str | None:
    """The course notebook a file name refers to ("00_orientation (2).ipynb"), if any."""
    for name in course:
        if name in path.stem or path.stem.startswith(name.split("_")[0] + "_"):
            return name
    return None


def refuse_inside_grading() -> None:
    """Grading from a notebook that is itself being graded would start kernels without end."""
    if os.environ.get(GRADING_ENV_VAR):
        raise RuntimeError(
            "the grader does not run inside a notebook that is being graded (that would grade "
            "it again, and again); tag such a cell `grader-skip`"
        )


def hidden_lines(source: str, shortest: int = 8) -> list[str]:
    """The lines of code between a check cell's hidden-test markers (stripped; very short ones
    such as `)` left out): what feedback must never show."""
    lines, hidden = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            hidden = True
        elif line.strip() == HIDDEN_END:
            hidden = False
        elif hidden and len(line.strip()) >= shortest:
            lines.append(line.strip())
    return lines
