"""check.softmax: passes correct code, and names each likely mistake."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import check
from course_lib.check.orientation import _softmax_cases
from course_lib.softmax import softmax as reference


def test_reference_and_torch_pass_with_one_line(capsys):
    check.softmax(reference)
    check.softmax(lambda x, dim=-1: torch.softmax(x, dim=dim), seed=3, n_random=50)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("✅ softmax: correct on 10 fixed and 20 random cases")


def _not_implemented(x, dim=-1):
    raise NotImplementedError()


def _in_place(x, dim=-1):
    x -= x.amax(dim=dim, keepdim=True)
    return x.exp() / x.exp().sum(dim=dim, keepdim=True)


def _detached(x, dim=-1):
    return torch.softmax(x.detach(), dim=dim)


def _no_return(x, dim=-1):
    torch.softmax(x, dim=dim)


def _divides_in_place(x, dim=-1):
    exps = (x - x.amax(dim=dim, keepdim=True)).exp()
    exps /= exps.sum(dim=dim, keepdim=True)  # breaks backpropagation
    return exps


MISTAKES = {
    "unstable": (
        lambda x, dim=-1: x.exp() / x.exp().sum(dim=dim, keepdim=True),
        "subtract the maximum",
    ),
    "ignores dim": (lambda x, dim=-1: torch.softmax(x, dim=-1), "ignore its `dim` argument"),
    "wrong dim": (
        lambda x, dim=-1: torch.softmax(x, dim=0 if x.ndim > 1 and dim != 0 else -1),
        "normalised along",
    ),
    "no keepdim": (
        lambda x, dim=-1: (
            (x - x.amax(dim=dim, keepdim=True)).exp()
            / (x - x.amax(dim=dim, keepdim=True)).exp().sum(dim=dim)
        ),
        "keepdim=True",
    ),
    "exp only": (lambda x, dim=-1: x.exp(), "without dividing by the sum"),
    "whole tensor": (
        lambda x, dim=-1: (x - x.max()).exp() / (x - x.max()).exp().sum(),
        "sum over the whole tensor",
    ),
    "log-softmax": (lambda x, dim=-1: F.log_softmax(x, dim=dim), "log-softmax"),
    "sigmoid": (lambda x, dim=-1: torch.sigmoid(x), "sigmoid"),
    "sum of x": (lambda x, dim=-1: x.exp() / x.sum(dim=dim, keepdim=True), "sum of x"),
    "off by a bit": (lambda x, dim=-1: torch.softmax(x, dim=dim) * 1.01, "sum to 1"),
    "float32 always": (lambda x, dim=-1: torch.softmax(x.float(), dim=dim), "dtype"),
    "no dim parameter": (lambda x: torch.softmax(x, dim=-1), "Keep the signature"),
    "not implemented": (_not_implemented, "not implemented yet"),
    "in place": (_in_place, "in place"),
    "detached": (_detached, "autograd"),
    "no return": (_no_return, "forget `return`"),
    "numpy": (lambda x, dim=-1: torch.softmax(x, dim=dim).numpy(), "should return a torch.Tensor"),
    "crashes": (lambda x, dim=-1: x.exp() / undefined_name, "NameError"),  # noqa: F821
    "wrong default dim": (lambda x, dim=0: torch.softmax(x, dim=dim), "the default should be"),
    "divides in place": (_divides_in_place, "backpropagating through softmax fails"),
    "global maximum": (
        lambda x, dim=-1: (x - x.max()).exp() / (x - x.max()).exp().sum(dim=dim, keepdim=True),
        "not the maximum of the whole tensor",
    ),
    "max returns a pair": (lambda x, dim=-1: (x - x.max(dim=dim, keepdim=True)).exp(), ".values"),
    "half precision": (lambda x, dim=-1: torch.softmax(x, dim=dim).half(), "dtype"),
    "another device": (lambda x, dim=-1: torch.softmax(x, dim=dim).to("meta"), "device"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_fails_with_a_hint_that_names_it(mistake):
    wrong_softmax, hint = MISTAKES[mistake]
    with pytest.raises(check.CheckFailed) as failure:
        check.softmax(wrong_softmax)
    assert hint in str(failure.value)


@pytest.mark.parametrize(
    "correct",
    [
        lambda x, dim=-1: (x - x.logsumexp(dim=dim, keepdim=True)).exp(),
        lambda x, dim=-1: torch.softmax(x.double(), dim=dim).to(x.dtype),
        lambda x, dim=-1: (
            torch.softmax(x, dim=dim).mT.contiguous().mT
            if x.ndim >= 2
            else torch.softmax(x, dim=dim)
        ),
    ],
    ids=["log-space", "float64 inside", "non-contiguous result"],
)
def test_unusual_but_correct_implementations_pass(correct):
    check.softmax(correct)


def test_checks_work_when_gradients_are_switched_off():
    with torch.no_grad():
        check.softmax(reference)


def test_passing_a_call_instead_of_the_function():
    with pytest.raises(check.CheckFailed, match=r"Did you call the function"):
        check.softmax(reference(torch.ones(3)))


def test_check_failed_shows_only_its_message_in_ipython():
    try:
        check.softmax(lambda x, dim=-1: x.exp())
    except check.CheckFailed as failure:
        assert failure._render_traceback_() == [f"CheckFailed: {failure}"]
    else:
        pytest.fail("the wrong softmax passed")


def test_random_cases_depend_on_the_seed():
    # A function that is right only on the default seed's random cases is still caught by
    # hidden cases with another seed: every random case is freshly drawn.
    first = [case.args[0] for case in _softmax_cases(0, 5)[9:]]
    other = [case.args[0] for case in _softmax_cases(1, 5)[9:]]
    assert any(
        a.shape != b.shape or not torch.equal(a, b) for a, b in zip(first, other, strict=True)
    )
