"""nbval as the course runs it: stderr noise in a compared cell does not fail it."""

import subprocess
import sys

import nbformat
import pytest

CELL = (
    "# NBVAL_CHECK_OUTPUT\nimport sys, warnings\nwarnings.warn('a library warning')\n"
    "print('shape: (2, 3)')\n_ = sys.stderr.write('some kernel noise\\n')"
)


def _run_pytest(folder, *plugin_args):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.cells[0].execution_count = 1
    notebook.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="shape: (2, 3)\n")
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, folder / "noisy.ipynb")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval-lax", *plugin_args, "noisy.ipynb"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_stderr_is_ignored_with_the_course_plugin_and_only_with_it(tmp_path):
    with_plugin = _run_pytest(tmp_path, "-p", "course_lib.machinery.pytest_plugin")
    assert with_plugin.returncode == 0, with_plugin.stdout
    without_plugin = _run_pytest(tmp_path)
    assert without_plugin.returncode == 1  # the control: plain nbval compares stderr
