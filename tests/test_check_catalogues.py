"""Every checker's catalogue of named mistakes (`checker.mistakes`): at least eight per checker,
and each one planted here, as a learner would write it, and named by the checker's message."""

import pytest

from course_lib import check

CHECKERS = {name: getattr(check, name) for name in check.__all__ if name != "CheckFailed"}
MINIMUM = 8


def test_every_checker_names_at_least_eight_mistakes():
    counts = {
        name: len({mistake.hint for mistake in checker.mistakes})
        for name, checker in CHECKERS.items()
    }
    assert {name: n for name, n in counts.items() if n < MINIMUM} == {}


@pytest.mark.parametrize(
    "name, index",
    [(name, i) for name, checker in CHECKERS.items() for i in range(len(checker.mistakes))],
)
def test_each_named_mistake_is_planted_and_named(name, index):
    mistake = CHECKERS[name].mistakes[index]
    with pytest.raises(check.CheckFailed) as failure:
        CHECKERS[name](mistake.wrong_implementation)
    assert mistake.hint in str(failure.value), str(failure.value)
