"""Where the course's folders are, for commands run from anywhere inside the repository."""

from __future__ import annotations

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = COURSE_ROOT / "solutions"
NOTEBOOKS_DIR = COURSE_ROOT / "notebooks"
