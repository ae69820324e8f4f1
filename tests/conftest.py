"""Shared test setup: silence progress bars here and in every kernel the tests start."""

import os
import sys
from pathlib import Path

os.environ["COURSE_LIB_QUIET"] = "1"  # inherited by nbval's kernels and the grader's
os.environ.setdefault("MPLBACKEND", "Agg")  # for plots made by unit tests (not in notebooks)
sys.path.insert(0, str(Path(__file__).parent))  # so tests can import course_fixture
