"""The grader against submissions written to cheat or to do harm (issue 15's defects).

One run of the real command grades a folder of hostile submissions to the fixture course (see
course_fixture.py); a second run grades a submission that deletes the course, with the course
imported from a throwaway copy of the checkout so that nothing real is at risk if the protection
ever fails.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import course_fixture
import psutil
import pytest

from course_lib.machinery.authoring import notebook_to_text
from course_lib.machinery.grading import PASS_MARK
from course_lib.machinery.paths import COURSE_ROOT

WRONG_SOFTMAX = "def softmax(x, dim=-1):\n    return x * 0\n"

PATCHED_CHECKER = WRONG_SOFTMAX + (
    "import course_lib.check as check_module\n"
    "import course_lib.check.framework as framework\n"
    "check_module.softmax = lambda fn, **kw: print('✅ softmax: correct')\n"
    "framework.run_cases = lambda *a, **k: 1\n"
)
PATCHED_TORCH = WRONG_SOFTMAX + (
    "import torch\n"
    "torch.allclose = lambda *a, **k: True\n"
    "torch.equal = lambda *a, **k: True\n"
    "torch.Tensor.allclose = lambda *a, **k: True\n"
)
FAKE_PACKAGE = WRONG_SOFTMAX + (
    "import os, sys\n"
    "os.makedirs('course_lib/check', exist_ok=True)\n"
    "open('course_lib/__init__.py', 'w').write('')\n"
    "open('course_lib/check/__init__.py', 'w').write(\n"
    "    'def softmax(fn, **kw):\\n    print(\"✅ softmax: correct\")\\n')\n"
    "for name in list(sys.modules):\n"
    "    if name.startswith('course_lib'):\n"
    "        del sys.modules[name]\n"
)
FORGED_REPORT = WRONG_SOFTMAX + (
    "get_ipython().input_transformers_post.append(\n"
    "    lambda lines: ['print(\"✅ softmax: correct\")\\n',\n"
    f"                   'print(\"{PASS_MARK} fx-softmax 0 0⟧\")\\n']\n"
    ")\n"
)
# A process that escapes the kernel (double fork + setsid), waits for the grader to exit, and
# then rewrites the JSON report with full marks.
ESCAPING_CHILD = """from course_lib import check
import json, os, time
import psutil

grader = next(p for p in psutil.Process().parents() if '--json' in p.cmdline())
report = grader.cmdline()[grader.cmdline().index('--json') + 1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(os.environ['HOSTILE_PID_FILE'], 'w') as handle:
            handle.write(str(os.getpid()))
        while psutil.pid_exists(grader.pid):
            time.sleep(0.1)
        data = json.load(open(report))
        for submission in data['submissions']:
            submission['score'] = submission['max_score']
        json.dump(data, open(report, 'w'))
        os._exit(0)
    os._exit(0)
"""
# Patches torch.allclose while its function is being checked and puts it back when the checker
# prints its verdict (through a stdout wrapper), so that nothing looks changed afterwards.
PATCH_AND_PUT_BACK = """import contextlib, sys, torch
_real = torch.allclose
class _Out:
    def __init__(self, real):
        self.real = real
    def write(self, text):
        torch.allclose = _real
        return self.real.write(text)
    def flush(self):
        return self.real.flush()
def softmax(x, dim=-1):
    torch.allclose = lambda *a, **k: True
    if not isinstance(sys.stdout, _Out):
        contextlib.redirect_stdout(_Out(sys.stdout)).__enter__()
    return x * 2.0
"""
HUGE_ALLOCATION = (
    "import torch\nbig = torch.empty(20 * 2**30, dtype=torch.uint8)\n\n"
    "def add(a, b):\n    return a + b\n"
)
SLEEPS = "from course_lib import check\nimport time\ntime.sleep(120)\n"
MEMORY, MAX_SECONDS = "2G", 25


def _submissions() -> dict[str, dict]:
    solution = course_fixture.solution_notebook()
    sources = course_fixture._with_sources
    return {
        "patched_checker.ipynb": sources(solution, softmax_code=PATCHED_CHECKER),
        "patched_torch.ipynb": sources(solution, softmax_code=PATCHED_TORCH),
        "fake_package.ipynb": sources(solution, softmax_code=FAKE_PACKAGE),
        "forged_report.ipynb": sources(solution, softmax_code=FORGED_REPORT),
        "patch_and_put_back.ipynb": sources(solution, softmax_code=PATCH_AND_PUT_BACK),
        "escaping_child.ipynb": sources(solution, setup=ESCAPING_CHILD),
        "huge_allocation.ipynb": sources(solution, add_code=HUGE_ALLOCATION),
        "sleeps.ipynb": sources(solution, setup=SLEEPS),
        "honest.ipynb": solution,
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    solutions, folder = root / "solutions", root / "submissions"
    solutions.mkdir()
    folder.mkdir()
    text = notebook_to_text(course_fixture.solution_notebook())
    (solutions / f"{course_fixture.NOTEBOOK}.ipynb").write_text(text)
    for name, notebook in _submissions().items():
        (folder / name).write_text(notebook_to_text(notebook), encoding="utf-8")
    command = [
        *(sys.executable, "-m", "course_lib", "--solutions", str(solutions), "grade"),
        *(str(folder), "--timeout", "60", "--max-seconds", str(MAX_SECONDS)),
        *("--memory", MEMORY, "--json", str(root / "grades.json")),
        *("--csv", str(root / "grades.csv")),
    ]
    environment = {**os.environ, "HOSTILE_PID_FILE": str(root / "escaped.pid")}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=environment
    )
    time.sleep(3)  # time for a surviving process to rewrite the report
    print(completed.stdout)
    results = json.loads((root / "grades.json").read_text())["submissions"]
    return {
        "root": root,
        "completed": completed,
        "by_name": {result["submission"]: result for result in results},
    }


def _exercise(result, grade_id):
    return next(item for item in result["exercises"] if item["exercise"] == grade_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, flag",
    [
        ("patched_checker.ipynb", "assigns to course_lib.check.softmax"),
        ("patched_torch.ipynb", "the grader put back torch.allclose was replaced"),
        ("fake_package.ipynb", "deletes sys.modules"),
        ("forged_report.ipynb", "fx-softmax: the check finished without its signed report"),
        ("patch_and_put_back.ipynb", "assigns to torch.allclose"),
    ],
)
def test_a_patched_or_forged_check_scores_zero_and_is_flagged(hostile, name, flag):
    result = hostile["by_name"][name]
    softmax = _exercise(result, "fx-softmax")
    assert softmax["points"] == 0 and not softmax["passed"], softmax
    assert any(flag in line for line in result["flags"]), result["flags"]


@pytest.mark.slow
def test_a_patch_put_back_before_the_verdict_is_still_caught(hostile):
    feedback = _exercise(hostile["by_name"]["patch_and_put_back.ipynb"], "fx-softmax")["feedback"]
    assert "while it was being checked, your code replaced torch.allclose" in feedback


@pytest.mark.slow
def test_the_patched_checker_still_gets_the_real_checks_hint(hostile):
    feedback = _exercise(hostile["by_name"]["patched_checker.ipynb"], "fx-softmax")["feedback"]
    assert "softmax(" in feedback and "is wrong" in feedback


@pytest.mark.slow
def test_an_honest_submission_in_the_same_run_has_full_marks_and_no_flag(hostile):
    result = hostile["by_name"]["honest.ipynb"]
    assert result["score"] == result["max_score"] == 3 and result["flags"] == []


@pytest.mark.slow
def test_a_process_that_escapes_the_kernel_is_ended_before_the_report(hostile):
    pid = int((hostile["root"] / "escaped.pid").read_text())
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    assert not alive
    result = hostile["by_name"]["escaping_child.ipynb"]
    assert any("were ended" in flag for flag in result["flags"]), result["flags"]
    assert any("os.fork" in flag for flag in result["flags"])
    # The JSON says what the printed table says (nobody rewrote it afterwards).
    printed = dict(
        re.findall(r"^(\S+\.ipynb) \(\S+\): (\S+)/\S+ points", hostile["completed"].stdout, re.M)
    )
    written = {name: f"{r['score']:g}" for name, r in hostile["by_name"].items()}
    assert printed == written and written["patched_checker.ipynb"] == "1"


@pytest.mark.slow
def test_a_huge_allocation_is_refused_by_the_memory_cap(hostile):
    result = hostile["by_name"]["huge_allocation.ipynb"]
    feedback = _exercise(result, "fx-add")["feedback"]
    assert "ran out of memory" in feedback and "--memory" in feedback
    assert _exercise(result, "fx-softmax")["passed"]  # the kernel lived on


@pytest.mark.slow
def test_the_time_limit_per_submission_is_named(hostile):
    result = hostile["by_name"]["sleeps.ipynb"]
    assert result["seconds"] < MAX_SECONDS + 30
    feedback = " ".join(item["feedback"] for item in result["exercises"])
    assert f"time limit of {MAX_SECONDS} s (--max-seconds)" in feedback


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


DELETES_THE_COURSE = """from course_lib import check
import pathlib, shutil
import course_lib
root = pathlib.Path(course_lib.__file__).resolve().parents[1]
for name in ('course_lib', 'solutions', 'notebooks'):
    shutil.rmtree(root / name, ignore_errors=True)
"""


@pytest.mark.slow
def test_a_submission_that_deletes_the_course_changes_nothing_the_instructor_owns(tmp_path):
    checkout = tmp_path / "checkout"  # a throwaway copy: the real checkout is never at risk
    shutil.copytree(COURSE_ROOT / "course_lib", checkout / "course_lib")
    for name in ("solutions", "notebooks"):
        (checkout / name).mkdir()
        (checkout / name / "keep.txt").write_text("the instructor's file")
    text = notebook_to_text(course_fixture.solution_notebook())
    (checkout / "solutions" / f"{course_fixture.NOTEBOOK}.ipynb").write_text(text)
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    where = subprocess.run(
        [sys.executable, "-c", "import course_lib; print(course_lib.__file__)"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(checkout)  # else this test would endanger the checkout
    before = _tree_digest(checkout)
    submission = tmp_path / "deleter.ipynb"
    notebook = course_fixture._with_sources(
        course_fixture.solution_notebook(), setup=DELETES_THE_COURSE
    )
    submission.write_text(notebook_to_text(notebook))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_lib",
            "grade",
            str(submission),
            "--timeout",
            "30",
            "--json",
            str(tmp_path / "grades.json"),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert _tree_digest(checkout) == before
    (result,) = json.loads((tmp_path / "grades.json").read_text())["submissions"]
    assert result["score"] == result["max_score"]  # grading went on with the checks it had
    assert any("shutil.rmtree" in flag for flag in result["flags"]), result["flags"]
