"""Shared test setup (progress bars are silenced by course_lib.machinery.pytest_plugin, loaded
through pyproject.toml)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # so tests can import course_fixture
