"""The command line, `python -m course_lib COMMAND`, for authors, instructors and graders.

build-notebooks [--check]     generate notebooks/ from solutions/ (or check it is in sync)
build-guide [--check]         generate docs/instructors.md (or check it is up to date)
grade PATH [--json F] [--csv F] [--feedback DIR] [--timeout S] [--max-seconds S]
      [--memory 4G] [--notebook NAME]
                              grade one submission or a folder of them
progress [PATH ...] [--json]  your progress: each of your notebooks graded (cached when unchanged)
run [NOTEBOOK ...] [--inplace] execute the solutions notebooks headless, one at a time, timed
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .authoring import AuthoringError, build_notebooks
from .course import DEFAULT_MEMORY
from .paths import NOTEBOOKS_DIR, SOLUTIONS_DIR
from .progress import format_row, header, progress, totals


def _grading():
    """The grader (kernels, nbformat): imported only by the commands that run notebooks, so that
    `progress` answers from its cache in a second or two."""
    return importlib.import_module(".grading", __package__)


def _build(args: argparse.Namespace) -> int:
    try:
        result = build_notebooks(Path(args.solutions), Path(args.notebooks), check=args.check)
    except AuthoringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if result.stale:
            for line in result.stale:
                print(f"stale: {line}", file=sys.stderr)
            print("run `python -m course_lib build-notebooks` to regenerate them", file=sys.stderr)
            return 1
        print(f"notebooks/ is in sync with {args.solutions}")
        return 0
    for path in result.written:
        print(f"wrote {path}")
    for line in result.stale:
        if "has no source" in line:
            print(f"warning: {line}", file=sys.stderr)
    if not result.written:
        print("notebooks/ was already up to date")
    return 0


def _guide(args: argparse.Namespace) -> int:
    guide = importlib.import_module(".guide", __package__)
    if args.check:
        if guide.stale(Path(args.solutions)):
            print(f"stale: {guide.GUIDE}", file=sys.stderr)
            print("run `python -m course_lib build-guide` to regenerate it", file=sys.stderr)
            return 1
        print(f"{guide.GUIDE} is up to date")
        return 0
    print(f"wrote {guide.write_guide(Path(args.solutions))}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    target = Path(args.path)
    if not target.exists():
        print(f"error: {target} does not exist", file=sys.stderr)
        return 2
    if args.feedback and not Path(args.feedback).resolve().parent.is_dir():
        print(
            f"error: --feedback {args.feedback}: its parent folder does not exist", file=sys.stderr
        )
        return 2
    for option, value in (("--json", args.json), ("--csv", args.csv)):
        if value and not Path(value).resolve().parent.is_dir():
            print(f"error: {option} {value}: its folder does not exist", file=sys.stderr)
            return 2
    grading = _grading()
    try:
        grading.parse_memory(args.memory)
    except ValueError as error:
        print(f"error: --memory {args.memory}: {error}", file=sys.stderr)
        return 2
    outputs = {Path(path).resolve() for path in (args.json, args.csv) if path}
    results = grading.grade(
        target,
        Path(args.solutions),
        cell_timeout=args.timeout,
        max_seconds=args.max_seconds,
        memory=args.memory,
        notebook_name=args.notebook,
        exclude=outputs,
        on_result=lambda result: print(grading.format_result(result), flush=True),
    )
    if not results:
        print(f"error: no submissions found in {target}", file=sys.stderr)
        return 2
    if args.json:
        grading.write_json(results, Path(args.json))
    if args.csv:
        grading.write_csv(results, Path(args.csv))
    if args.feedback:
        written = grading.write_feedback(results, Path(args.feedback))
        print(f"wrote {len(written)} feedback file(s) to {args.feedback}")
    graded = sum(result.error is None for result in results)
    print(f"graded {graded} of {len(results)} submission(s)")
    return 0 if graded == len(results) else 1


def _progress(args: argparse.Namespace) -> int:
    targets = [Path(path) for path in args.paths] or [NOTEBOOKS_DIR]
    started = time.monotonic()
    if not args.json:
        print(header(), flush=True)
    try:
        rows = progress(
            targets,
            solutions_dir=Path(args.solutions),
            refresh=args.refresh,
            on_row=None if args.json else lambda row: print(format_row(row), flush=True),
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"notebooks": [asdict(row) for row in rows]}, indent=2))
    else:
        print(totals(rows))
        print(f"({time.monotonic() - started:.1f} s; unchanged notebooks come from the cache)")
    return 0


def _run(args: argparse.Namespace) -> int:
    solutions = Path(args.solutions)
    paths = []
    for given in map(Path, args.notebooks or [solutions]):  # a folder means its notebooks
        paths += sorted(given.glob("*.ipynb")) if given.is_dir() else [given]
    total, failed = 0.0, 0
    for path in paths:
        print(f"{path.name} ...", end=" ", flush=True)
        try:
            seconds = importlib.import_module(".execution", __package__).execute_notebook(
                path, timeout=args.timeout, output_path=path if args.inplace else None
            )
        except Exception as error:
            failed += 1
            lines = [line for line in str(error).strip().splitlines() if line.strip()]
            detail = "\n    ".join(lines[-3:]) or repr(error)
            print(f"FAILED: {type(error).__name__}:\n    {detail}")
            continue
        total += seconds
        print(f"{seconds:.1f} s")
    print(f"{len(paths) - failed} of {len(paths)} notebooks ran, {total:.1f} s in all")
    return 1 if failed else 0


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse turns the error into a usage message)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--solutions",
        default=str(SOLUTIONS_DIR),
        help="the solutions folder (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build-notebooks", help="generate notebooks/ from solutions/")
    build.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    build.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help="default: %(default)s")
    build.set_defaults(handler=_build)

    guide = commands.add_parser("build-guide", help="generate docs/instructors.md")
    guide.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    guide.set_defaults(handler=_guide)

    grade = commands.add_parser("grade", help="grade a submission or a folder of submissions")
    grade.add_argument("path", help="a submitted .ipynb, or a folder of submissions")
    grade.add_argument("--json", help="write results as JSON to this file")
    grade.add_argument("--csv", help="write one CSV row per submission to this file")
    grade.add_argument(
        "--timeout", type=_seconds, default=120, help="seconds per cell (%(default)s)"
    )
    grade.add_argument(
        "--max-seconds", type=_seconds, default=1800, help="seconds per submission (%(default)s)"
    )
    grade.add_argument(
        "--feedback", help="write one Markdown feedback file per submission into this folder"
    )
    grade.add_argument(
        "--memory",
        default=DEFAULT_MEMORY,
        help="memory cap per grading kernel, e.g. 4G or 512M; 0 for none (%(default)s)",
    )
    grade.add_argument("--notebook", help="course notebook name, if it can't be told from files")
    grade.set_defaults(handler=_grade)

    mine = commands.add_parser("progress", help="your progress through the course's exercises")
    mine.add_argument(
        "paths", nargs="*", help=f"your notebooks or folders of them (default: {NOTEBOOKS_DIR})"
    )
    mine.add_argument("--json", action="store_true", help="print JSON, for tools")
    mine.add_argument("--refresh", action="store_true", help="grade again, ignoring the cache")
    mine.set_defaults(handler=_progress)

    run = commands.add_parser("run", help="execute solutions notebooks headless, timed")
    run.add_argument(
        "notebooks", nargs="*", help="notebooks or folders; default: every notebook in solutions/"
    )
    run.add_argument("--inplace", action="store_true", help="save the outputs (authoring)")
    run.add_argument("--timeout", type=_seconds, default=600, help="seconds per cell (%(default)s)")
    run.set_defaults(handler=_run)

    args = parser.parse_args(argv)
    return args.handler(args)
