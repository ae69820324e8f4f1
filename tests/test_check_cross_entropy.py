"""Notebook 00's cross-entropy exercise: the checker passes torch's own function and names each
planted mistake."""

import pytest
import torch.nn.functional as F

from course_lib import check
from course_lib.check.orientation import CROSS_ENTROPY_MISTAKES


def test_torch_cross_entropy_passes(capsys):
    check.cross_entropy(F.cross_entropy)
    assert capsys.readouterr().out.startswith("✅ cross_entropy")


@pytest.mark.parametrize("mistake", CROSS_ENTROPY_MISTAKES, ids=lambda m: m.hint[:40])
def test_cross_entropy_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.cross_entropy(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)
