"""Shared test setup (progress bars are silenced by course_lib.pytest_plugin, see pyproject)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # so tests can import course_fixture
