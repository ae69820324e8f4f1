"""The grader, on a tiny two-exercise course and on every kind of broken submission.

One run of the real command grades a whole folder of submissions (see course_fixture.py); the
tests read its JSON and CSV. Then notebook 00 itself: blank scores 0, solutions full marks.
"""

import csv
import json
import subprocess
import sys

import course_fixture
import pytest

from course_lib.machinery.course import hidden_lines
from course_lib.machinery.grading import grade, load_course, plan_steps, read_submission
from course_lib.machinery.paths import COURSE_ROOT

CELL_TIMEOUT = 3


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    solutions, folder = course_fixture.build(root)
    command = [
        sys.executable,
        "-m",
        "course_lib",
        "--solutions",
        str(solutions),
        "grade",
        str(folder),
        "--timeout",
        str(CELL_TIMEOUT),
        "--json",
        str(root / "grades.json"),
        "--csv",
        str(root / "grades.csv"),
        "--feedback",
        str(root / "feedback"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    results = json.loads((root / "grades.json").read_text())["submissions"]
    with open(root / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "root": root,
        "solutions": solutions,
        "completed": completed,
        "by_name": {result["submission"]: result for result in results},
        "rows": {row["submission"]: row for row in rows},
    }


def _feedback(result, exercise):
    return next(item for item in result["exercises"] if item["exercise"] == exercise)["feedback"]


def _scores(result):
    return {item["exercise"]: item["points"] for item in result["exercises"]}


UNDECODABLE_LABEL = "latin1-\\xe9t\\xe9.ipynb"


@pytest.mark.slow
def test_every_submission_gets_a_row_and_the_exit_code_reports_unreadable_ones(graded):
    expected = set(course_fixture.submissions()) | {UNDECODABLE_LABEL}
    assert set(graded["by_name"]) == expected
    assert set(graded["rows"]) == expected
    assert graded["completed"].returncode == 1  # four files could not be graded at all
    summary = f"graded {len(expected) - 4} of {len(expected)} submission(s)"
    assert summary in graded["completed"].stdout


@pytest.mark.slow
def test_an_undecodable_file_name_is_graded_and_reported(graded):
    assert graded["by_name"][UNDECODABLE_LABEL]["score"] == 3


@pytest.mark.slow
def test_a_notebook_that_grades_itself_does_not_recurse(graded):
    result = graded["by_name"]["grades_itself.ipynb"]
    assert result["score"] == 3 and result["seconds"] < 60


@pytest.mark.slow
def test_an_error_the_kernel_cannot_even_report_still_fails(graded):
    assert _scores(graded["by_name"]["unencodable_error.ipynb"]) == {"fx-softmax": 0, "fx-add": 1}


@pytest.mark.slow
def test_a_check_copied_above_the_solution_runs_where_it_appears_last(graded):
    assert graded["by_name"]["check_copied_above.ipynb"]["score"] == 3


@pytest.mark.slow
def test_a_damaged_notebook_is_reported_as_damaged(graded):
    result = graded["by_name"]["damaged_metadata.ipynb"]
    assert result["status"] == "error" and "damaged" in result["error"]


@pytest.mark.slow
def test_blank_notebook_scores_zero(graded):
    result = graded["by_name"]["blank.ipynb"]
    assert (result["score"], result["max_score"]) == (0, 3)
    assert "not implemented yet" in _feedback(result, "fx-softmax")
    assert "not done yet" in _feedback(result, "fx-add")


@pytest.mark.slow
def test_solutions_score_full_marks_with_hidden_tests_run(graded):
    result = graded["by_name"]["solutions.ipynb"]
    assert (result["score"], result["max_score"]) == (3, 3)
    assert "10 fixed and 20 random cases" in _feedback(result, "fx-softmax")


@pytest.mark.slow
def test_one_wrong_exercise_gives_partial_points_and_the_checkers_hint(graded):
    result = graded["by_name"]["one_wrong.ipynb"]
    assert _scores(result) == {"fx-softmax": 0, "fx-add": 1}
    assert "subtract the maximum" in _feedback(result, "fx-softmax")


@pytest.mark.slow
def test_an_exception_costs_only_its_exercise(graded):
    result = graded["by_name"]["exception.ipynb"]
    assert _scores(result) == {"fx-softmax": 0, "fx-add": 1}
    assert "raised ValueError: oops" in _feedback(result, "fx-softmax")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["infinite_loop.ipynb", "loop_ignoring_interrupts.ipynb"])
def test_an_endless_loop_times_out_and_grading_goes_on(graded, name):
    result = graded["by_name"][name]
    assert _scores(result) == {"fx-softmax": 2, "fx-add": 0}
    assert f"did not finish within {CELL_TIMEOUT} s" in _feedback(result, "fx-add")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sys_exit.ipynb", "exit_call.ipynb", "kernel_dies.ipynb"])
def test_exit_and_a_dead_kernel_do_not_stop_grading(graded, name):
    assert graded["by_name"][name]["score"] == 3


@pytest.mark.slow
def test_a_check_that_kills_the_kernel_scores_zero_with_a_reason(graded):
    result = graded["by_name"]["dies_in_check.ipynb"]
    assert _scores(result) == {"fx-softmax": 2, "fx-add": 0}
    assert "stopped the Python kernel" in _feedback(result, "fx-add")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["edited_checks.ipynb", "shadowed_check.ipynb"])
def test_edited_or_shadowed_checks_are_replaced_by_the_graders_copy(graded, name):
    assert graded["by_name"][name]["score"] == 0


@pytest.mark.slow
def test_deleted_checks_are_put_back(graded):
    assert graded["by_name"]["deleted_checks.ipynb"]["score"] == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, message",
    [
        ("corrupt.ipynb", "not a readable Jupyter notebook"),
        ("not_a_notebook.ipynb", "not a readable Jupyter notebook"),
        ("essay.txt", "not a Jupyter notebook (.txt)"),
    ],
)
def test_unreadable_files_get_a_clear_error(graded, name, message):
    result = graded["by_name"][name]
    assert result["status"] == "error" and message in result["error"]
    assert graded["rows"][name]["status"] == "error"


@pytest.mark.slow
def test_csv_has_points_and_feedback_per_exercise(graded):
    row = graded["rows"]["one_wrong.ipynb"]
    assert (row["score"], row["max_score"], row["fx-add"], row["fx-softmax"]) == (
        "1",
        "3",
        "1",
        "0",
    )
    assert "subtract the maximum" in row["fx-softmax feedback"]


@pytest.mark.slow
def test_the_grader_skips_cells_tagged_grader_skip(graded):
    # The fixture's tagged cell would redefine add() to return 0 if it ran.
    assert _scores(graded["by_name"]["solutions.ipynb"])["fx-add"] == 1


def test_deleted_check_is_reinserted_after_its_solution(tmp_path):
    solutions, folder = course_fixture.build(tmp_path)
    course = load_course(solutions)
    steps = plan_steps(
        read_submission(folder / "deleted_checks.ipynb"), course[course_fixture.NOTEBOOK]
    )
    labels = [step.label for step in steps]
    assert labels.index("fx-softmax") == labels.index("fx-softmax-sol") + 1
    assert labels.index("fx-add") == labels.index("fx-add-sol") + 1


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["MISSING"], "does not exist"),
        (["SUBMISSION", "--timeout", "0"], "must be a positive number of seconds"),
        (["SUBMISSION", "--timeout", "nan"], "must be a positive number of seconds"),
        (["SUBMISSION", "--json", "no/such/folder/grades.json"], "its folder does not exist"),
    ],
)
def test_usage_errors_exit_2_before_grading(tmp_path, arguments, message):
    submission = tmp_path / "00_orientation.ipynb"
    submission.write_text("{}")
    stand_ins = {"MISSING": str(tmp_path / "nope"), "SUBMISSION": str(submission)}
    arguments = [stand_ins.get(argument, argument) for argument in arguments]
    completed = subprocess.run(
        [sys.executable, "-m", "course_lib", "grade", *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert completed.returncode == 2 and message in completed.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", sorted(path.stem for path in (COURSE_ROOT / "solutions").glob("*.ipynb"))
)
def test_each_course_notebook_grades_to_zero_blank_and_full_marks_solved(name):
    solutions = COURSE_ROOT / "solutions"
    (blank,) = grade(COURSE_ROOT / "notebooks" / f"{name}.ipynb", solutions)
    (full,) = grade(solutions / f"{name}.ipynb", solutions)
    assert blank.error is None and blank.notebook == name
    assert blank.score == 0 and blank.max_score > 0
    assert all(
        "not implemented yet" in item.feedback or "not done yet" in item.feedback
        for item in blank.exercises
    ), [item.feedback for item in blank.exercises]
    assert full.score == full.max_score == blank.max_score
    assert full.seconds < 60  # training cells are tagged grader-skip: grading stays quick


@pytest.mark.slow
def test_feedback_files_name_points_hints_and_failing_cases(graded):
    files = sorted((graded["root"] / "feedback").glob("*.md"))
    assert len(files) == len(graded["by_name"])
    one_wrong = (graded["root"] / "feedback" / "one_wrong.md").read_text()
    assert "0/2 (not passed)" in one_wrong and "subtract the maximum" in one_wrong
    assert "softmax(very large scores [[1000" in one_wrong  # the failing case is named
    assert "flag" not in one_wrong  # flags are for the instructor


@pytest.mark.slow
def test_hidden_test_code_never_appears_in_feedback_json_or_csv(graded):
    course = load_course(graded["solutions"])
    hidden = [
        line
        for exercise in course[course_fixture.NOTEBOOK].exercises
        for line in hidden_lines(exercise.source)
    ]
    assert "check.softmax(softmax, seed=5)" in hidden
    root = graded["root"]
    texts = [path.read_text() for path in (root / "feedback").glob("*.md")]
    texts += [(root / "grades.json").read_text(), (root / "grades.csv").read_text()]
    assert not [line for text in texts for line in hidden if line in text]
    leaked = (root / "feedback" / "leaks_a_hidden_line.md").read_text()
    assert "raised ValueError: [hidden test]" in leaked
