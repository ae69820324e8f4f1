"""The instructors' guide is generated, complete, and up to date."""

from course_lib.machinery import guide
from course_lib.machinery.catalog import CATALOG


def test_the_guide_is_up_to_date():
    assert not guide.stale(), (
        "docs/instructors.md is stale: run `python -m course_lib build-guide` (it is generated "
        "from the solutions notebooks, the checkers' catalogues and the benchmark)"
    )


def test_every_lab_has_two_or_three_discussion_questions_with_answers():
    assert set(guide.QUESTIONS) == {entry.notebook for entry in CATALOG}
    for questions in guide.QUESTIONS.values():
        assert 2 <= len(questions) <= 3
        assert all(question.endswith("?") and len(answer) > 40 for question, answer in questions)


def test_each_lab_lists_objectives_time_run_time_exercises_and_their_mistakes():
    text = guide.build_guide()
    for entry in CATALOG:
        section = text.split(f"### {entry.number} · {entry.title}\n", 1)[1].split("\n### ", 1)[0]
        assert "**Estimated time:**" in section and "not stated" not in section
        assert "**Run time of its cells (CPU):**" in section
        assert "**Objectives.**\n\n- " in section
        for grade_id in entry.exercises:
            assert f"(`{grade_id}`," in section
        assert section.count("\n  - ") >= 8 * len(entry.exercises)  # the named mistakes
