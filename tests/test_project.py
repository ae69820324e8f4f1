"""The repository keeps its promises: pins agree, the README's commands are CI's, lint is clean."""

import re
import subprocess
import sys

import yaml

from course_lib.paths import COURSE_ROOT


def _requirement_lines(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_environment_yml_pins_exactly_what_requirements_txt_pins():
    requirements = _requirement_lines((COURSE_ROOT / "requirements.txt").read_text())
    environment = yaml.safe_load((COURSE_ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    dependencies = environment["dependencies"]
    assert "python=3.11" in dependencies and "pip" in dependencies
    pip_section = next(item["pip"] for item in dependencies if isinstance(item, dict))
    assert pip_section == requirements


def test_every_requirement_is_pinned_exactly_and_torch_is_the_cpu_release():
    for line in _requirement_lines((COURSE_ROOT / "requirements.txt").read_text()):
        assert line == "-e ." or re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", line), line
    assert "torch==2.13.0" in _requirement_lines((COURSE_ROOT / "requirements.txt").read_text())


def _quick_start_commands() -> list[str]:
    readme = (COURSE_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_quick_start_has_setup_run_and_test_and_ci_runs_them():
    setup, run, test = _quick_start_commands()
    assert "pip install -r requirements.txt" in setup
    assert "jupyter lab" in run and "notebooks/" in run
    assert test.endswith("pytest")
    ci_lines = (COURSE_ROOT / ".ci" / "run").read_text().splitlines()
    assert setup in ci_lines and test in ci_lines


def test_readme_lists_every_solutions_notebook_with_a_measured_time():
    readme = (COURSE_ROOT / "README.md").read_text()
    for path in sorted((COURSE_ROOT / "solutions").glob("*.ipynb")):
        number, name = path.stem.split("_", 1)
        row = re.search(rf"^\| {number} \| \[{name}\]\(solutions/{path.name}\) \|.*$", readme, re.M)
        assert row, f"README's notebook table has no row for {path.name}"
        assert re.search(r"\| \d+(\.\d+)? (s|min)†? \|", row.group(0)), row.group(0)


def test_ruff_is_clean_on_the_package_tests_and_solutions():
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "course_lib", "tests", "solutions"],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
