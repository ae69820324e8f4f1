"""Grading submissions: `python -m course_lib grade SUBMISSION.ipynb|FOLDER [--json F] [--csv F]`.

For each submission the grader:
1. reads it (a file that is not a readable notebook gets a clear error, and the others go on);
2. finds which course notebook it is (by the exercises' grade_ids, else by its file name);
3. builds the cells to run: the learner's code cells as submitted, except that every graded check
   cell is replaced by the grader's own copy from `solutions/`, hidden tests included (a check cell
   that was edited or deleted is restored), and cells tagged `grader-skip` (slow demos, training)
   are left out;
4. runs them in a fresh kernel in a scratch folder, one cell at a time, with a per-cell timeout,
   a time limit for the whole submission and a memory cap, going on after errors; when a cell
   kills the kernel (or ignores the timeout) the kernel is restarted, the cells that ran before
   are replayed, and grading goes on without that cell;
5. gives each exercise its points only when the grader's own copy of its check passed and said so
   in a line signed with a key the submission never saw (`kernel_guard`), and otherwise the
   check's message (which names the likely mistake) as feedback;
6. ends every process the submission started before anything is reported, and flags signs of
   tampering or shortcuts in its code (`flags`) for the instructor.

The kernel imports the course from a copy made for each submission, so a submission cannot change
the instructor's files through `course_lib`. It is still not a security sandbox: a submission runs
with the grader's rights. Grade untrusted work in a container or as an unprivileged user; the
README states what the grader protects against and what it does not.
"""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import psutil

from ..data import cache_dir
from .authoring import cell_source, grading_metadata
from .course import (  # noqa: F401 - load_course and the course's types, re-exported for callers
    DEFAULT_MEMORY,
    SKIP_TAG,
    CourseNotebook,
    Exercise,
    hidden_lines,
    load_course,
    notebook_from_file_name,
    refuse_inside_grading,
)
from .execution import GRADING_ENV_VAR, CellRun, Kernel, kernel_environment
from .flags import Cell, flags_for
from .kernel_guard import PASS_MARK, TAMPER_MARK, pass_line
from .paths import SOLUTIONS_DIR

COURSE_PACKAGE = Path(__file__).resolve().parents[1]  # course_lib, copied for each submission
SETUP_TIMEOUT = 120.0  # seconds for a kernel to import the checkers
MAX_SUBMISSION_BYTES = 50_000_000
MAX_KERNEL_RESTARTS = 3
MAX_FEEDBACK_CHARS = 1_000  # feedback is for people (and spreadsheet cells): keep it short


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
    flags: list[str] = field(default_factory=list)  # signs of tampering, for the instructor

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


# ---- what to run -----------------------------------------------------------------------------


@dataclass
class Step:
    """One cell to run: the learner's code, or the grader's copy of an exercise's check."""

    code: str
    label: str  # "cell 7", or a solution's grade_id
    exercise: Exercise | None = None  # set for check steps
    run: CellRun | None = None
    nonce: str = ""  # check steps: what the signed pass line must carry
    solution: bool = False  # the learner's exercise (solution) cell


def check_step(exercise: Exercise) -> Step:
    """A check step: the kernel guard runs the grader's copy of the check, loaded before any of
    the submission's cells, and signs a pass with this step's nonce."""
    nonce = secrets.token_hex(8)
    code = f"__course_grader__.run({exercise.grade_id!r}, {nonce!r})"
    return Step(code, exercise.grade_id, exercise, nonce=nonce)


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
                steps.append(check_step(by_id[grade_id]))
                cell_ids.append(cell.get("id"))
                placed.add(grade_id)
            continue
        tags = cell.get("metadata", {}).get("tags") or []
        if SKIP_TAG in tags or cell.get("id") in notebook.skipped_cell_ids:
            continue
        solution = bool(metadata.get("solution")) and isinstance(grade_id, str)
        label = grade_id if solution else f"cell {index}"
        steps.append(Step(cell_source(cell), label, solution=solution))
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
        steps.insert(position, check_step(exercise))
        cell_ids.insert(position, None)
    return steps


# ---- running and scoring ---------------------------------------------------------------------


class GraderSetupError(Exception):
    """The grader could not prepare a kernel (a memory cap too small, a broken install)."""


@dataclass
class KernelSetup:
    """How each grading kernel of one submission starts: in `workdir`, importing the course from
    a copy (`environment`'s PYTHONPATH), under a memory cap, and with the grader's setup cell run
    before any of the submission's cells (the checks and the signing key: `kernel_guard`)."""

    workdir: Path
    environment: dict[str, str]
    memory_bytes: int
    key: str
    checks: dict[str, str]

    def start(self) -> Kernel:
        kernel = Kernel(self.workdir, self.environment, memory_bytes=self.memory_bytes)
        code = (
            "def __course_grader_setup__():\n"
            "    from course_lib.machinery import kernel_guard\n"
            f"    return kernel_guard.install({self.key!r}, {self.checks!r}, globals())\n"
            "__course_grader__ = __course_grader_setup__()\n"
            "del __course_grader_setup__\n"
        )
        run = kernel.run(code, SETUP_TIMEOUT, store_history=False)  # the key stays out of In[]
        if run.status != "ok":
            kernel.shutdown()
            detail = f"{run.ename}: {run.evalue}" if run.ename else run.status
            raise GraderSetupError(f"the grader could not prepare its kernel ({detail})")
        return kernel


def run_steps(steps: list[Step], setup: KernelSetup, cell_timeout: float, max_seconds: float):
    """Run every step, recovering from dead kernels by restarting and replaying earlier cells.

    No cell runs past the submission's time limit: the last one gets what is left of it."""
    restarts = 0
    kernel = setup.start()
    deadline = time.monotonic() + max_seconds  # starting the kernel does not count
    try:
        for index, step in enumerate(steps):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                step.run = CellRun("skipped", "TimeLimit", _time_limit_message(max_seconds))
                continue
            step.run = kernel.run(step.code, min(cell_timeout, remaining))
            if step.run.status == "timeout" and remaining < cell_timeout:
                step.run.evalue = _time_limit_message(max_seconds)
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
            kernel = setup.start()
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


def _time_limit_message(max_seconds: float) -> str:
    return f"grading stopped at the submission's time limit of {max_seconds:g} s (--max-seconds)"


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


def _signed(run: CellRun, step: Step, key: str) -> bool:
    """Did the grader's copy of the check print the pass line signed for this very step?"""
    return pass_line(key, step.exercise.grade_id, step.nonce) in run.output.splitlines()


def _guard_lines(output: str) -> tuple[str, list[str]]:
    """The cell's output without the guard's lines, and what the guard said it put back."""
    kept, restored = [], []
    for line in output.splitlines():
        if line.startswith(TAMPER_MARK):
            restored.append(line.removeprefix(TAMPER_MARK).strip().rstrip("⟧").strip())
        elif not line.startswith(PASS_MARK):
            kept.append(line)
    return "\n".join(kept), restored


def score(
    steps: list[Step], cell_timeout: float, key: str, flags: list[str] | None = None
) -> list[ExerciseResult]:
    """Points and feedback for every exercise, in course order. A check earns its points only
    with its signed pass line; what the guard had to put back is added to `flags`."""
    results = []
    for position, step in enumerate(steps):
        exercise = step.exercise
        if exercise is None:
            continue
        run = step.run
        output, restored = _guard_lines(run.output)
        if flags is not None:
            flags += [f"{exercise.grade_id}: the grader put back {what}" for what in restored]
        if run.status == "ok" and _signed(run, step, key):
            verdicts = [line for line in output.splitlines() if line.startswith("✅")]
            summary = verdicts[-1].removeprefix("✅").strip() if verdicts else "passed"
            results.append(
                ExerciseResult(
                    exercise.grade_id, exercise.points, exercise.points, True, _shorten(summary)
                )
            )
            continue
        if run.status == "ok":  # the cell raised nothing, yet the check never signed a pass
            feedback = (
                "the check did not report a result to the grader (does the notebook change "
                "printing, exceptions or IPython's hooks?)"
            )
            if flags is not None:
                flags.append(f"{exercise.grade_id}: the check finished without its signed report")
        else:
            feedback = _explain(run, cell_timeout, checking=True)
        if run.status == "skipped":  # the reason covers the learner's cells too
            results.append(
                ExerciseResult(exercise.grade_id, 0.0, exercise.points, False, _shorten(feedback))
            )
            continue
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


def redact(text: str, hidden: list[str]) -> str:
    """`text` with every line of hidden-test code in it replaced by "[hidden test]": feedback
    names the failing case, never the hidden tests' code (even when a submission's error message
    quotes it)."""
    for line in sorted(hidden, key=len, reverse=True):
        text = text.replace(line, "[hidden test]")
    return text


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
        return run.evalue if checking else f"was not run ({run.evalue})"
    if run.ename == "CheckFailed":
        return run.evalue
    if run.ename == "MemoryError" or "can't allocate memory" in run.evalue:
        return (
            f"{subject} ran out of memory: the grader caps each kernel's memory (--memory), "
            "and an allocation beyond the cap fails"
        ).strip()
    if run.ename == "NotImplementedError":
        return "not done yet: replace `raise NotImplementedError()` with your code"
    message = f"{run.ename}: {run.evalue}" if run.evalue else run.ename
    if run.ename == "NameError":
        message += " (is the exercise cell still there, and did it run without errors?)"
    return message if checking else f"raised {message}"


def parse_memory(text: str) -> int:
    """Bytes from "4G", "512M", "1.5G" or a plain number of bytes; 0 or "none" for no cap."""
    value = text.strip().upper().removesuffix("B")
    if value in ("0", "NONE", ""):
        return 0
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    scale = units.get(value[-1:], 1)
    number = float(value[:-1] if value[-1:] in units else value)
    if not number > 0 or number != number:
        raise ValueError(f"a memory cap must be positive, such as 4G or 512M; got {text!r}")
    return int(number * scale)


class _Scratch:
    """One submission's scratch space: a copy of the course package for its kernels to import
    (read-only where permissions apply), and an empty working folder with the submission."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="course-grade-"))
        self.course = self.root / "course"
        self.workdir = self.root / "work"
        self.workdir.mkdir()
        shutil.copytree(COURSE_PACKAGE, self.course / "course_lib")
        for folder, _, files in os.walk(self.course, topdown=False):
            for name in files:
                os.chmod(os.path.join(folder, name), stat.S_IRUSR | stat.S_IRGRP)
            os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)

    def environment(self) -> dict[str, str]:
        paths = [str(self.course), os.environ.get("PYTHONPATH", "")]
        return kernel_environment(
            **{
                GRADING_ENV_VAR: "1",
                "PYTHONPATH": os.pathsep.join(path for path in paths if path),
                "COURSE_CACHE_DIR": str(cache_dir()),  # the datasets the notebooks build
            }
        )

    def remove(self) -> None:
        for folder, _, _ in os.walk(self.root):
            try:
                os.chmod(folder, stat.S_IRWXU)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def grade_submission(
    path: Path,
    course: dict[str, CourseNotebook],
    *,
    cell_timeout: float = 120,
    max_seconds: float = 1800,
    memory: str = DEFAULT_MEMORY,
    notebook_name: str | None = None,
    label: str | None = None,
) -> SubmissionResult:
    """Grade one submission; never raises for problems with the submission itself."""
    result = SubmissionResult(submission=safe_text(label or str(path)))
    started = time.monotonic()
    before = _descendants()
    try:
        submission = read_submission(path)
        if notebook_name is not None and notebook_name not in course:
            raise SubmissionError(
                f"unknown notebook {notebook_name!r}; the course has {', '.join(course)}"
            )
        result.notebook = notebook_name or identify_notebook(submission, path, course)
        notebook = course[result.notebook]
        steps = plan_steps(submission, notebook)
        result.flags = flags_for(
            [Cell(step.label, step.code, step.solution) for step in steps if not step.exercise]
        )
        scratch = _Scratch()
        key = secrets.token_hex(16)
        try:
            shutil.copy(path, scratch.workdir / path.name)
            setup = KernelSetup(
                scratch.workdir,
                scratch.environment(),
                parse_memory(memory),
                key,
                {exercise.grade_id: exercise.source for exercise in notebook.exercises},
            )
            run_steps(steps, setup, cell_timeout, max_seconds)
        finally:
            ended = _end_processes_started_since(before)
            if ended:
                result.flags.append(
                    f"{ended} process(es) started by the submission were still running after "
                    "grading, and were ended"
                )
            scratch.remove()
        result.exercises = score(steps, cell_timeout, key, result.flags)
        hidden = [line for exercise in notebook.exercises for line in hidden_lines(exercise.source)]
        for item in result.exercises:
            item.feedback = redact(item.feedback, hidden)
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


# ---- processes a submission leaves behind ------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Make this process adopt the orphans of its descendants (Linux): a submission's process
    that double-forks and calls setsid then stays in our tree, where the sweep finds it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _descendants() -> set[int]:
    try:
        return {child.pid for child in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _end_processes_started_since(before: set[int], rounds: int = 5) -> int:
    """Kill every descendant that was not there before grading began; return how many. Rounds
    repeat until none is left, for processes that fork while being swept."""
    ended = 0
    for _ in range(rounds):
        try:
            found = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        except psutil.Error:
            return ended
        found = [process for process in found if _running(process)]
        if not found:
            break
        for process in found:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(found, timeout=5)
        ended += len(found)
        time.sleep(0.2)  # an orphan being re-parented to us appears a moment later
    return ended


def _running(process: psutil.Process) -> bool:
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            process.wait(timeout=0)  # reap it: it has already ended
            return False
        return True
    except (psutil.Error, psutil.TimeoutExpired):
        return False


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
    memory: str = DEFAULT_MEMORY,
    notebook_name: str | None = None,
    exclude: set[Path] = frozenset(),
    on_result=None,
) -> list[SubmissionResult]:
    """Grade a submission file or every submission in a folder, one after another."""
    refuse_inside_grading()
    parse_memory(memory)  # a bad value fails before any grading
    adopt_orphans()
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
            memory=memory,
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
    for flag in result.flags:
        lines.append(f"    ⚠ flag: {flag}")
    width = max((len(item.exercise) for item in result.exercises), default=0)
    for item in result.exercises:
        mark = "✅" if item.passed else "❌"
        lines.append(
            f"    {mark} {item.exercise:<{width}}  {_points(item.points)}/"
            f"{_points(item.max_points)}  {item.feedback}"
        )
    return "\n".join(lines)


def feedback_markdown(result: SubmissionResult) -> str:
    """One submission's feedback for its author: per exercise the points and what the check
    said (the failing case and the hint). Flags are for the instructor and are left out."""
    title = result.notebook or "unknown notebook"
    lines = [f"# Feedback: {title}", "", f"Submission: `{result.submission}`", ""]
    if result.error and not result.exercises:
        return "\n".join([*lines, f"Not graded: {result.error}", ""])
    lines += [f"**{_points(result.score)} / {_points(result.max_score)} points**", ""]
    if result.error:
        lines += [f"Grading stopped early: {result.error}", ""]
    for item in result.exercises:
        mark = "passed" if item.passed else "not passed"
        lines += [f"## {item.exercise}: {_points(item.points)}/{_points(item.max_points)} ({mark})"]
        lines += ["", item.feedback.replace("\n", " "), ""]
    return "\n".join(lines)


def write_feedback(results: list[SubmissionResult], folder: Path) -> list[Path]:
    """One Markdown file per submission in `folder`, named after the submission (its folder
    path joined with `__`); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for result in results:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", result.submission.replace("/", "__"))
        stem = stem.removesuffix(".ipynb").strip("._") or "submission"
        path = folder / f"{stem}.md"
        number = 2
        while path in written:
            path = folder / f"{stem}-{number}.md"
            number += 1
        write_atomically(path, feedback_markdown(result))
        written.append(path)
    return written


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a new file beside `path`, then rename it over `path`: a reader (or a
    process racing the grader) sees the old report or the whole new one, never a mix."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(results: list[SubmissionResult], path: Path) -> None:
    data = {"submissions": [result.to_dict() for result in results]}
    write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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
    header = ["submission", "notebook", "status", "score", "max_score", "error", "flags"]
    for name in exercises:
        header += [name, f"{name} feedback"]
    handle = io.StringIO()
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
            "; ".join(result.flags),
        ]
        for name in exercises:
            item = by_name.get(name)
            row += [_points(item.points), item.feedback] if item else ["", ""]
        writer.writerow([_spreadsheet_safe(value) for value in row])
    write_atomically(path, handle.getvalue())


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
