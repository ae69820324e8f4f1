"""The course's pytest plugin (loaded by `pytest` through pyproject.toml's addopts).

- Progress bars are silenced (COURSE_LIB_QUIET=1) here and in every kernel started from tests,
  nbval's included.
- nbval compares the outputs of `# NBVAL_CHECK_OUTPUT` cells; we leave out what a kernel writes to
  stderr (library warnings, deprecation notices), which differs between machines and versions and
  says nothing about the lesson.
- The test tiers: every notebook run by nbval is marked `slow`, like the tests that grade whole
  notebooks or start several processes, so that `pytest -m "not slow"` is the fast tier.
"""

from __future__ import annotations

import os

import pytest
from nbval.plugin import IPyNbCell

os.environ["COURSE_LIB_QUIET"] = "1"


def _without_stderr(outputs: list) -> list:
    return [
        output
        for output in outputs
        if not (output.get("output_type") == "stream" and output.get("name") == "stderr")
    ]


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "slow: runs notebooks, grades whole notebooks or starts several processes"
    )
    if getattr(IPyNbCell.compare_outputs, "ignores_stderr", False):
        return
    compare = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return compare(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    compare_outputs.ignores_stderr = True
    IPyNbCell.compare_outputs = compare_outputs


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if isinstance(item, IPyNbCell):
            item.add_marker(pytest.mark.slow)
