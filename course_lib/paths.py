"""Where the course's folders are, for commands run from anywhere inside the repository."""

from __future__ import annotations

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = COURSE_ROOT / "solutions"
NOTEBOOKS_DIR = COURSE_ROOT / "notebooks"


def cache_dir() -> Path:
    """Where built datasets, tokenizers and trained models are cached between notebooks.

    `.course_cache/` in the repository (git ignores it), or COURSE_CACHE_DIR if set. Deleting it
    is always safe: everything in it is rebuilt on demand.
    """
    import os

    return Path(os.environ.get("COURSE_CACHE_DIR") or COURSE_ROOT / ".course_cache")


def save_report_data(name: str, data) -> None:
    """Keep a notebook's results (JSON-able `data`) in the cache, for a later notebook."""
    import json

    folder = cache_dir() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(data, indent=1))


def load_report_data(name: str):
    """What `save_report_data(name, ...)` kept, or None if that notebook has not been run."""
    import json

    path = cache_dir() / "reports" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def require(module: str, package: str):
    """Import `module`, or fail with the command that installs it (the course never downloads)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is needed here but is not installed. Install the course's pinned "
            f"packages with `pip install -r requirements.txt` (or just `pip install {package}`)."
        ) from error
