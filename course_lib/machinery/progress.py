"""Where a learner stands: `python -m course_lib progress [NOTEBOOK_OR_FOLDER ...] [--json]`.

Grades the learner's own working notebooks (by default every course notebook in `notebooks/`)
with the course's grader and prints one table: per notebook, the exercises passed, the points,
and the next unfinished exercise with its hint. A notebook whose file has not changed since the
last call is not graded again: results are kept in `.course_cache/progress/`, keyed by the
notebook's content and the course's checks, so a second call takes a second or two.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..data import cache_dir
from .catalog import CATALOG
from .course import CourseNotebook, load_course, notebook_from_file_name, refuse_inside_grading
from .paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

CACHE_VERSION = 2  # bump when what is cached changes shape
EXERCISE_NAMES = {grade_id: name for entry in CATALOG for grade_id, name in entry.exercises.items()}


@dataclass
class Row:
    """One notebook's line of the table."""

    notebook: str
    file: str | None  # None: the learner has no such notebook
    passed: int
    exercises: int
    points: float
    max_points: float
    next_exercise: str | None  # the first exercise not passed yet, by its name for people
    hint: str  # its feedback (what to do next), or why the notebook could not be graded
    cached: bool = False
    seconds: float = 0.0


def _cache_key(path: Path, notebook: CourseNotebook) -> str:
    digest = hashlib.sha256(path.read_bytes())
    for exercise in notebook.exercises:  # a changed check grades again
        digest.update(exercise.grade_id.encode() + exercise.source.encode())
    digest.update(str(CACHE_VERSION).encode())
    return digest.hexdigest()


def _cached(path: Path, notebook: CourseNotebook) -> tuple[str, dict | None]:
    """The cache key of this file, and its stored grading result (a dict) if still valid."""
    key = _cache_key(path, notebook)
    stored = cache_dir() / "progress" / f"{notebook.name}.json"
    try:
        saved = json.loads(stored.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return key, None
    if saved.get("key") != key or saved.get("file") != str(path.resolve()):
        return key, None
    return key, saved.get("result")


def _store(path: Path, notebook: CourseNotebook, key: str, result: dict) -> None:
    stored = cache_dir() / "progress" / f"{notebook.name}.json"
    stored.parent.mkdir(parents=True, exist_ok=True)
    data = {"key": key, "file": str(path.resolve()), "result": result}
    stored.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _row(name: str, path: Path | None, result: dict | None, cached: bool) -> Row:
    """A table row from a grading result (`SubmissionResult.to_dict()`)."""
    if result is None:
        return Row(name, None, 0, 0, 0.0, 0.0, None, "no such notebook in this folder")
    exercises = result["exercises"]
    waiting = [item for item in exercises if not item["passed"]]
    first = waiting[0] if waiting else None
    hint = result["error"] or (first["feedback"] if first else "all done")
    return Row(
        notebook=name,
        file=str(path),
        passed=len(exercises) - len(waiting),
        exercises=len(exercises),
        points=result["score"],
        max_points=result["max_score"],
        next_exercise=EXERCISE_NAMES.get(first["exercise"], first["exercise"]) if first else None,
        hint=hint,
        cached=cached,
        seconds=0.0 if cached else result["seconds"],
    )


def notebooks_to_grade(
    targets: list[Path], course: dict[str, CourseNotebook]
) -> dict[str, Path | None]:
    """Course notebook name -> the learner's file for it (None when there is none). Folders
    stand for the course notebooks they hold; files are recognised by their names."""
    found: dict[str, Path | None] = {}
    for target in targets:
        if target.is_dir():
            for name in course:
                path = target / f"{name}.ipynb"
                found[name] = path if path.is_file() else found.get(name)
        else:
            if not target.is_file():
                raise FileNotFoundError(f"{target} does not exist")
            name = notebook_from_file_name(target, course)
            if name is None:
                raise ValueError(
                    f"{target.name} is not one of the course's notebooks (its name should start "
                    "with the notebook's number, such as 02_attention.ipynb)"
                )
            found[name] = target
    return found


def progress(
    targets: list[Path] | None = None,
    *,
    solutions_dir: Path | None = None,
    refresh: bool = False,
    on_row=None,
) -> list[Row]:
    """Grade each of the learner's notebooks (from the cache where unchanged): one Row each."""
    refuse_inside_grading()
    course = load_course(solutions_dir or SOLUTIONS_DIR)
    rows = []
    for name, path in notebooks_to_grade(targets or [NOTEBOOKS_DIR], course).items():
        if path is None:
            row = _row(name, None, None, False)
        else:
            key, result = (None, None) if refresh else _cached(path, course[name])
            cached = result is not None
            if result is None:
                key = key or _cache_key(path, course[name])
                grading = importlib.import_module(".grading", __package__)  # kernels: only now
                graded = grading.grade_submission(path, course, notebook_name=name, label=path.name)
                result = graded.to_dict()
                _store(path, course[name], key, result)
            row = _row(name, path, result, cached)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def format_row(row: Row, hint_width: int = 90) -> str:
    if row.file is None:
        return f"{row.notebook:<30} {'-':>9} {'-':>9}  (no such notebook in this folder)"
    hint = " ".join(row.hint.split())
    hint = hint if len(hint) <= hint_width else hint[: hint_width - 1] + "…"
    nxt = f"next: {row.next_exercise}: {hint}" if row.next_exercise else hint
    return (
        f"{row.notebook:<30} {row.passed:>3}/{row.exercises:<5} "
        f"{row.points:>4g}/{row.max_points:<4g}  {nxt}"
    )


def header() -> str:
    return f"{'notebook':<30} {'exercises':>9} {'points':>9}  what to do next"


def totals(rows: list[Row]) -> str:
    passed = sum(row.passed for row in rows)
    exercises = sum(row.exercises for row in rows)
    points = sum(row.points for row in rows)
    max_points = sum(row.max_points for row in rows)
    return (
        f"{'course':<30} {passed:>3}/{exercises:<5} {points:>4g}/{max_points:<4g}  "
        f"{passed} of {exercises} exercises passed"
    )


def show_progress(*targets: str | Path) -> list[Row]:
    """Print the progress table for these notebooks or folders (default: notebooks/), from a
    notebook cell: what `python -m course_lib progress` prints."""
    started = time.monotonic()
    print(header())
    rows = progress([Path(target) for target in targets] or None, on_row=_print_row)
    print(totals(rows))
    print(f"({time.monotonic() - started:.1f} s; unchanged notebooks come from the cache)")
    return rows


def _print_row(row: Row) -> None:
    print(format_row(row), flush=True)
