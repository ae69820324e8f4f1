"""Grading submissions: `python -m course_lib grade SUBMISSION.ipynb|FOLDER [--json F] [--csv F]`.

For each submission the grader:
1. reads it (a file that is not a readable notebook gets a clear error, and the others go on);
2. finds which course notebook it is (by the exercises' grade_ids, else by its file name);
3. builds the cells to run: the learner's code cells as submitted, except that every graded check
   cell is replaced by the grader's own copy from `solutions/`, hidden tests included (a check cell
   that was edited or deleted is restored), and cells tagged `grader-skip` (slow demos, training)
   are left out;
4. runs them in a fresh kernel in a scratch folder, one cell at a time, with a per-cell timeout,
   going on after errors; when a cell kills the kernel (or ignores the timeout) the kernel is
   restarted, the cells that ran before are replayed, and grading goes on without that cell;
5. gives each exercise its points when its check cell ran without error, and otherwise the check's
   message (which names the likely mistake) as feedback.

It is not a security sandbox: a submission runs with the grader's rights. Grade untrusted work in
a container or as an unprivileged user.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .authoring import cell_source, grading_metadata, read_notebook_json
from .execution import GRADING_ENV_VAR, CellRun, Kernel, kernel_environment
from .paths import SOLUTIONS_DIR

SKIP_TAG = "grader-skip"  # cell tag: the grader does not run this cell
CHECK_PREAMBLE = (
    "import course_lib.check as check\n"  # the real checks, even if `check` was rebound
)
MAX_SUBMISSION_BYTES = 50_000_000
MAX_KERNEL_RESTARTS = 3
MAX_FEEDBACK_CHARS = 1_000  # feedback is for people (and spreadsheet cells): keep it short


# ---- the course side: which exercises each notebook has -------------------------------------


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


# ---- results ---------------------------------------------------------------------------------


@dataclass
class ExerciseResult:
    exercise: str
    points: float
    max_points: float
    passed: bool
    feedback: str


@dataclass
class SubmissionResult:
    submission: str
    notebook: str | None = None
    exercises: list[ExerciseResult] = field(default_factory=list)
    error: str | None = None  # set when the submission could not be graded at all
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(result.points for result in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(result.max_points for result in self.exercises)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            score=self.score, max_score=self.max_score, status="error" if self.error else "graded"
        )
        return data


# ---- reading and matching a submission -------------------------------------------------------


class SubmissionError(Exception):
    """The submission cannot be graded at all; the message says why, for the learner."""


def read_submission(path: Path) -> dict:
    """The submission as notebook JSON (format 4), or SubmissionError saying what is wrong."""
    if path.suffix.lower() != ".ipynb":
        raise SubmissionError(
            f"not a Jupyter notebook ({path.suffix or 'no extension'}): submit the .ipynb file"
        )
    if path.stat().st_size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(
            f"the file is larger than {MAX_SUBMISSION_BYTES // 1_000_000} MB: "
            "clear the outputs and submit again"
        )
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises many kinds for many kinds of damage
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        message = f"not a readable Jupyter notebook (corrupt or not JSON): {reason}"
        raise SubmissionError(message) from None
    if not isinstance(notebook.get("cells"), list):
        raise SubmissionError("not a readable Jupyter notebook: it has no list of cells")
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        reason = str(error).splitlines()[0][:200]
        raise SubmissionError(
            f"the notebook file is damaged ({reason}): open it in Jupyter, save it, and submit "
            "again"
        ) from None
    return json.loads(json.dumps(notebook))  # plain dicts from here on


def identify_notebook(submission: dict, path: Path, course: dict[str, CourseNotebook]) -> str:
    """Which course notebook a submission is: by its exercises' grade_ids, else its file name."""
    ids = {grading_metadata(cell).get("grade_id") for cell in submission["cells"]} - {None}
    overlap = {name: len(ids & notebook.grade_ids) for name, notebook in course.items()}
    best = max(overlap, key=overlap.get, default=None)
    if best is not None and overlap[best] > 0:
        return best
    by_name = notebook_from_file_name(path, course)
    if by_name is not None:
        return by_name
    raise SubmissionError(
        "cannot tell which course notebook this is (no known exercise ids, and the file name "
        "does not say): pass --notebook NAME"
    )


def notebook_from_file_name(path: Path, course: dict[str, CourseNotebook]) -> str | None:
    """The course notebook a file name refers to ("00_orientation (2).ipynb"), if any."""
    for name in course:
        if name in path.stem or path.stem.startswith(name.split("_")[0] + "_"):
            return name
    return None


# ---- what to run -----------------------------------------------------------------------------


@dataclass
class Step:
    """One cell to run: the learner's code, or the grader's copy of an exercise's check."""

    code: str
    label: str  # "cell 7", or a solution's grade_id
    exercise: Exercise | None = None  # set for check steps
    run: CellRun | None = None


def plan_steps(submission: dict, notebook: CourseNotebook) -> list[Step]:
    """The cells to execute, in order, with every check cell the grader's own copy."""
    by_id = {exercise.grade_id: exercise for exercise in notebook.exercises}
    steps: list[Step] = []
    placed: set[str] = set()
    cell_ids: list[str | None] = []
    cells = [cell for cell in submission["cells"] if isinstance(cell, dict)]
    # A check cell that appears twice runs once, where it appears last (below the solution).
    last_check = {grading_metadata(cell).get("grade_id"): index for index, cell in enumerate(cells)}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        metadata = grading_metadata(cell)
        grade_id = metadata.get("grade_id")
        if isinstance(grade_id, str) and grade_id in by_id:
            if last_check[grade_id] == index:
                steps.append(
                    Step(CHECK_PREAMBLE + by_id[grade_id].source, grade_id, by_id[grade_id])
                )
                cell_ids.append(cell.get("id"))
                placed.add(grade_id)
            continue
        tags = cell.get("metadata", {}).get("tags") or []
        if SKIP_TAG in tags or cell.get("id") in notebook.skipped_cell_ids:
            continue
        solution = metadata.get("solution") and isinstance(grade_id, str)
        label = grade_id if solution else f"cell {index}"
        steps.append(Step(cell_source(cell), label))
        cell_ids.append(cell.get("id"))
    for exercise in notebook.exercises:  # put back deleted check cells
        if exercise.grade_id in placed:
            continue
        position = len(steps)
        for i, step in enumerate(steps):
            if step.label in exercise.solution_ids or (
                exercise.previous_cell_id and cell_ids[i] == exercise.previous_cell_id
            ):
                position = i + 1
        steps.insert(position, Step(CHECK_PREAMBLE + exercise.source, exercise.grade_id, exercise))
        cell_ids.insert(position, None)
    return steps


# ---- running and scoring ---------------------------------------------------------------------


def run_steps(steps: list[Step], workdir: Path, cell_timeout: float, max_seconds: float) -> None:
    """Run every step, recovering from dead kernels by restarting and replaying earlier cells."""
    started = time.monotonic()
    restarts = 0
    environment = kernel_environment(**{GRADING_ENV_VAR: "1"})
    kernel = Kernel(workdir, environment)
    try:
        for index, step in enumerate(steps):
            if time.monotonic() - started > max_seconds:
                step.run = CellRun(
                    "skipped",
                    "TimeLimit",
                    f"grading stopped after the {max_seconds:g} s time limit",
                )
                continue
            step.run = kernel.run(step.code, cell_timeout)
            if step.run.kernel_alive:
                continue
            if step.run.ename == "KernelDead" and index > 0:
                # The kernel stopped after the previous cell finished: that cell is to blame.
                steps[index - 1].run.status = "died"
                steps[index - 1].run.kernel_alive = False
            kernel.shutdown()
            restarts += 1
            if restarts > MAX_KERNEL_RESTARTS:
                for later in steps[index + 1 :]:
                    later.run = CellRun(
                        "skipped", "KernelDead", "not run: the kernel died too many times"
                    )
                return
            kernel = Kernel(workdir, environment)
            deadline = started + max_seconds
            if not _replay(kernel, steps[: index + 1], cell_timeout, deadline):
                for later in steps[index + 1 :]:
                    later.run = CellRun(
                        "skipped",
                        "KernelDead",
                        "not run: the kernel died again, or time ran out, while recovering",
                    )
                return
            if step.run.ename == "KernelDead":  # this step itself never ran: run it now
                step.run = kernel.run(step.code, cell_timeout)
    finally:
        kernel.shutdown()


def _replay(kernel: Kernel, done: list[Step], cell_timeout: float, deadline: float) -> bool:
    """Re-run the learner's cells that completed before a kernel died, in a new kernel."""
    for step in done:
        if step.exercise is None and step.run is not None and step.run.status in ("ok", "error"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not kernel.run(step.code, min(cell_timeout, remaining)).kernel_alive:
                return False
    return True


def score(steps: list[Step], cell_timeout: float) -> list[ExerciseResult]:
    """Points and feedback for every exercise, in course order."""
    results = []
    for position, step in enumerate(steps):
        exercise = step.exercise
        if exercise is None:
            continue
        run = step.run
        if run.status == "ok":
            verdicts = [line for line in run.output.splitlines() if line.startswith("✅")]
            summary = verdicts[-1].removeprefix("✅").strip() if verdicts else "passed"
            results.append(
                ExerciseResult(
                    exercise.grade_id, exercise.points, exercise.points, True, _shorten(summary)
                )
            )
            continue
        feedback = _explain(run, cell_timeout, checking=True)
        learner_trouble = [
            f"your cell '{earlier.label}' {_explain(earlier.run, cell_timeout, checking=False)}"
            for earlier in steps[:position]
            if earlier.exercise is None
            and earlier.label in exercise.solution_ids
            and earlier.run is not None
            and earlier.run.status != "ok"
        ]
        feedback = "; then ".join(learner_trouble + [feedback])
        results.append(
            ExerciseResult(exercise.grade_id, 0.0, exercise.points, False, _shorten(feedback))
        )
    return results


def _shorten(text: str, limit: int = MAX_FEEDBACK_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " … (message cut)"


def safe_text(text: str) -> str:
    """A file name that can be printed and written as UTF-8: bytes that are not UTF-8 (names from
    old zip files) are shown as escapes such as \\xe9."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _explain(run: CellRun, cell_timeout: float, checking: bool) -> str:
    subject = "the check" if checking else ""
    if run.status == "timeout":
        return (f"{subject} did not finish within {cell_timeout:g} s (an endless loop?)").strip()
    if run.status == "died":
        detail = f" ({run.evalue})" if run.evalue else ""
        return (
            f"{subject} stopped the Python kernel{detail}: exit(), os._exit() or a crash "
            "ends the whole notebook"
        ).strip()
    if run.status == "skipped":
        return run.evalue
    if run.ename == "CheckFailed":
        return run.evalue
    if run.ename == "NotImplementedError":
        return "not done yet: replace `raise NotImplementedError()` with your code"
    message = f"{run.ename}: {run.evalue}" if run.evalue else run.ename
    if run.ename == "NameError":
        message += " (is the exercise cell still there, and did it run without errors?)"
    return message if checking else f"raised {message}"


def grade_submission(
    path: Path,
    course: dict[str, CourseNotebook],
    *,
    cell_timeout: float = 120,
    max_seconds: float = 1800,
    notebook_name: str | None = None,
    label: str | None = None,
) -> SubmissionResult:
    """Grade one submission; never raises for problems with the submission itself."""
    result = SubmissionResult(submission=safe_text(label or str(path)))
    started = time.monotonic()
    try:
        submission = read_submission(path)
        if notebook_name is not None and notebook_name not in course:
            raise SubmissionError(
                f"unknown notebook {notebook_name!r}; the course has {', '.join(course)}"
            )
        result.notebook = notebook_name or identify_notebook(submission, path, course)
        notebook = course[result.notebook]
        steps = plan_steps(submission, notebook)
        workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
        try:
            shutil.copy(path, workdir / path.name)
            run_steps(steps, workdir, cell_timeout, max_seconds)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result.exercises = score(steps, cell_timeout)
    except SubmissionError as error:
        result.error = str(error)
        result.notebook = result.notebook or notebook_name or notebook_from_file_name(path, course)
    except Exception as error:  # a grader fault must not stop the other submissions
        result.error = f"the grader failed on this submission: {type(error).__name__}: {error}"
    if result.error and result.notebook in course and not result.exercises:
        result.exercises = [
            ExerciseResult(exercise.grade_id, 0.0, exercise.points, False, result.error)
            for exercise in course[result.notebook].exercises
        ]
    result.seconds = time.monotonic() - started
    return result


def find_submissions(target: Path, exclude: set[Path] = frozenset()) -> list[Path]:
    """A single file, or every non-hidden file under a folder (checkpoints and outputs excluded)."""
    if target.is_file():
        return [target]
    found = []
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target).parts
        if not path.is_file() or any(part.startswith(".") for part in relative):
            continue
        if path.resolve() in exclude:
            continue
        found.append(path)
    return found


def grade(
    target: Path,
    solutions_dir: Path,
    *,
    cell_timeout: float = 120,
    max_seconds: float = 1800,
    notebook_name: str | None = None,
    exclude: set[Path] = frozenset(),
    on_result=None,
) -> list[SubmissionResult]:
    """Grade a submission file or every submission in a folder, one after another."""
    refuse_inside_grading()
    course = load_course(solutions_dir)
    if not course:
        raise FileNotFoundError(f"no solutions notebooks found in {solutions_dir}")
    results = []
    for path in find_submissions(target, exclude):
        label = str(path.relative_to(target)) if target.is_dir() else path.name
        result = grade_submission(
            path,
            course,
            cell_timeout=cell_timeout,
            max_seconds=max_seconds,
            notebook_name=notebook_name,
            label=label,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# ---- reports ---------------------------------------------------------------------------------


def _points(value: float) -> str:
    return f"{value:g}"


def format_result(result: SubmissionResult) -> str:
    """A submission's lines of the printed table: the total, then one line per exercise."""
    if result.error and not result.exercises:
        return f"{result.submission}: not graded: {result.error}"
    lines = [
        f"{result.submission} ({result.notebook}): {_points(result.score)}/"
        f"{_points(result.max_score)} points, {result.seconds:.1f} s"
    ]
    if result.error:
        lines.append(f"    error: {result.error}")
    width = max((len(item.exercise) for item in result.exercises), default=0)
    for item in result.exercises:
        mark = "✅" if item.passed else "❌"
        lines.append(
            f"    {mark} {item.exercise:<{width}}  {_points(item.points)}/"
            f"{_points(item.max_points)}  {item.feedback}"
        )
    return "\n".join(lines)


def write_json(results: list[SubmissionResult], path: Path) -> None:
    data = {"submissions": [result.to_dict() for result in results]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _spreadsheet_safe(value: str) -> str:
    """Keep text from a submission from being read as a formula by a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def write_csv(results: list[SubmissionResult], path: Path) -> None:
    """One row per submission: totals, then points and feedback for every exercise seen."""
    exercises: list[str] = []
    for result in results:
        for item in result.exercises:
            if item.exercise not in exercises:
                exercises.append(item.exercise)
    header = ["submission", "notebook", "status", "score", "max_score", "error"]
    for name in exercises:
        header += [name, f"{name} feedback"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for result in results:
            by_name = {item.exercise: item for item in result.exercises}
            row = [
                result.submission,
                result.notebook or "",
                "error" if result.error else "graded",
                _points(result.score),
                _points(result.max_score),
                result.error or "",
            ]
            for name in exercises:
                item = by_name.get(name)
                row += [_points(item.points), item.feedback] if item else ["", ""]
            writer.writerow([_spreadsheet_safe(value) for value in row])


def refuse_inside_grading() -> None:
    """Grading from a notebook that is itself being graded would start kernels without end."""
    if os.environ.get(GRADING_ENV_VAR):
        raise RuntimeError(
            "the grader does not run inside a notebook that is being graded (that would grade "
            "it again, and again); tag such a cell `grader-skip`"
        )


def grade_file(path: str | Path, solutions_dir: Path | None = None, **options) -> SubmissionResult:
    """Grade one notebook file and print its report: what a learner runs on their own work."""
    refuse_inside_grading()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (is the notebook saved under that name?)")
    course = load_course(solutions_dir or SOLUTIONS_DIR)
    result = grade_submission(path, course, label=path.name, **options)
    print(format_result(result))
    return result


def grade_this_notebook(default: str, solutions_dir: Path | None = None) -> SubmissionResult:
    """Grade the notebook this code runs in, as saved on disk, and print the report.

    In JupyterLab that is the open notebook, whatever its name (a renamed or duplicated copy
    included); run headless, where the kernel can't know, it is the file `default`.
    """
    session = os.environ.get("JPY_SESSION_NAME", "")
    path = session if session.endswith(".ipynb") and Path(session).exists() else default
    return grade_file(path, solutions_dir)
