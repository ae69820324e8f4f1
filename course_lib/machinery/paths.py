"""Where the repository's folders and files are, for commands run from anywhere inside it."""

from __future__ import annotations

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_DIR = COURSE_ROOT / "solutions"
NOTEBOOKS_DIR = COURSE_ROOT / "notebooks"
BENCHMARKS_DIR = COURSE_ROOT / "benchmarks"
README = COURSE_ROOT / "README.md"
