"""The repository keeps its promises: pins agree, the README's commands are CI's, lint is clean."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

import course_lib
import course_lib.machinery
from course_lib.machinery.authoring import grading_metadata, read_notebook_json
from course_lib.machinery.catalog import CATALOG
from course_lib.machinery.paths import COURSE_ROOT


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


# --- the house: the maps agree with the files, and imports follow the course order ---------------

PACKAGE = COURSE_ROOT / "course_lib"


def _module_map(docstring: str) -> list[str]:
    """The module names a package docstring lists, one per indented line ("    name   ...")."""
    return re.findall(r"^    ([a-z_0-9]+)\s{2,}", docstring, re.M)


def _modules_in(folder: Path) -> set[str]:
    files = {path.stem for path in folder.glob("*.py")} - {"__init__", "__main__"}
    packages = {path.parent.name for path in folder.glob("*/__init__.py")}
    return files | packages


def test_the_module_maps_list_exactly_the_modules_present():
    appendix = _module_map(course_lib.__doc__)
    assert sorted(appendix) == sorted(_modules_in(PACKAGE) - {"machinery"})
    machinery = _module_map(course_lib.machinery.__doc__)
    assert sorted(machinery) == sorted(_modules_in(PACKAGE / "machinery"))


def test_the_readme_layout_names_every_module():
    readme = (COURSE_ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    appendix, machinery = layout.split("course_lib/machinery/", 1)
    appendix = appendix.split("course_lib/", 1)[1]
    machinery = machinery.split("benchmarks/", 1)[0]
    assert _modules_in(PACKAGE) - {"machinery"} <= _words(appendix)
    assert _modules_in(PACKAGE / "machinery") <= _words(machinery)
    assert _modules_in(PACKAGE / "machinery" / "bench") <= _words(machinery)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\b[a-z][a-z_0-9]*\b", text))


def _imported_course_modules(path: Path) -> set[str]:
    """The course_lib modules (top-level names) a file of the package imports."""
    depth = len(path.relative_to(PACKAGE).parts)  # 1 in course_lib/, 2 in course_lib/check/
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == depth:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        absolute = []  # `import course_lib.x` or `from course_lib.x import ...`
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            absolute = [node.module]
        elif isinstance(node, ast.Import):
            absolute = [alias.name for alias in node.names]
        found.update(name.split(".")[1] for name in absolute if name.startswith("course_lib."))
    return found


def test_every_appendix_module_imports_only_modules_above_it_in_the_map():
    order = _module_map(course_lib.__doc__)
    for position, name in enumerate(order):
        path = PACKAGE / f"{name}.py"
        for file in [path] if path.exists() else sorted((PACKAGE / name).glob("*.py")):
            imported = _imported_course_modules(file)
            assert "machinery" not in imported, f"{file.name} imports the machinery"
            later = [module for module in imported if order.index(module) >= position]
            assert not later, f"{name} imports {later}, which come later in the course map"


def test_every_solutions_notebook_has_a_catalogue_entry_naming_its_graded_exercises():
    stems = sorted(path.stem for path in (COURSE_ROOT / "solutions").glob("*.ipynb"))
    assert [entry.notebook for entry in CATALOG] == stems
    for entry in CATALOG:
        cells = read_notebook_json(COURSE_ROOT / "solutions" / f"{entry.notebook}.ipynb")["cells"]
        checks = [
            grading_metadata(cell)["grade_id"]
            for cell in cells
            if grading_metadata(cell).get("grade") and cell["cell_type"] == "code"
        ]
        assert list(entry.exercises) == checks, entry.notebook


def test_readme_counts_the_graded_exercises_of_the_catalogue():
    count = sum(len(entry.exercises) for entry in CATALOG)
    assert f"({count} graded exercises in all)" in (COURSE_ROOT / "README.md").read_text()


def test_every_notebook_from_01_on_shows_at_least_two_figures():
    for path in sorted((COURSE_ROOT / "solutions").glob("0[1-8]*.ipynb")):
        images = sum(
            "image/png" in output.get("data", {})
            for cell in read_notebook_json(path)["cells"]
            for output in cell.get("outputs", [])
        )
        assert images >= 2, f"{path.name} shows {images} figure(s) when executed"
