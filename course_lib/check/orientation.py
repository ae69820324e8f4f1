"""Checks for notebook 00 (orientation): softmax and cross-entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import softmax as reference
from .framework import Case, Mistake, passed, recognises, require_function, run_cases

SOFTMAX_ATOL, SOFTMAX_RTOL = 1e-6, 1e-5


def _exp_over_sum(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return x.exp() / x.exp().sum(dim)  # keepdim forgotten: broadcasts along the wrong axis


OVERFLOW = (
    "large scores overflow exp() and give nan or inf: subtract the maximum along `dim` "
    "(keepdim=True) before exp; it does not change the result"
)
SOFTMAX_MISTAKES = [
    Mistake("this is exp(x) without dividing by the sum along `dim`", lambda x, dim=-1: x.exp()),
    Mistake(
        "you divided by the sum over the whole tensor; divide by the sum along `dim` only "
        "(x.exp().sum(dim=dim, keepdim=True))",
        lambda x, dim=-1: x.exp() / x.exp().sum(),
    ),
    Mistake(
        "the sum lost its dimension, so it was divided along the wrong axis: "
        "use sum(dim=dim, keepdim=True)",
        _exp_over_sum,
    ),
    Mistake(
        "you divided by the sum of x, not by the sum of exp(x)",
        lambda x, dim=-1: x.exp() / x.sum(dim=dim, keepdim=True),
    ),
    Mistake(
        "subtract the maximum along `dim` (keepdim=True), not the maximum of the whole tensor: "
        "rows far below the overall maximum underflow to 0 / 0",
        lambda x, dim=-1: (x - x.max()).exp() / (x - x.max()).exp().sum(dim=dim, keepdim=True),
    ),
    Mistake(
        "this is log-softmax (the log of the probabilities): drop the log",
        lambda x, dim=-1: F.log_softmax(x, dim=dim),
    ),
    Mistake(
        "this is the sigmoid, which squashes each score on its own; softmax divides exp(x) "
        "by the sum of exp over `dim`",
        lambda x, dim=-1: torch.sigmoid(x),
    ),
    Mistake(OVERFLOW, lambda x, dim=-1: x.exp() / x.exp().sum(dim=dim, keepdim=True)),
    Mistake(
        "you divided by the mean of exp(x) along `dim`; divide by the sum, so that the values "
        "sum to 1",
        lambda x, dim=-1: x.exp() / x.exp().mean(dim=dim, keepdim=True),
    ),
    Mistake(
        "it normalised along the last dimension whatever `dim` was asked for: does your "
        "function ignore its `dim` argument?",
        lambda x, dim=-1: reference.softmax(x),
    ),
    Mistake(
        "called without `dim`, it normalised along dim 0: the default should be dim=-1, the "
        "last dimension (def softmax(x, dim=-1))",
        lambda x, dim=0: reference.softmax(x, dim=dim),
    ),
]


def _diagnose_softmax(got: torch.Tensor, expected: torch.Tensor, case: Case) -> str | None:
    x = case.args[0]
    dim = case.kwargs.get("dim", -1) % x.ndim
    for other in range(x.ndim):
        if other != dim and torch.allclose(
            got, reference.softmax(x, dim=other), atol=SOFTMAX_ATOL, rtol=SOFTMAX_RTOL
        ):
            if "dim" not in case.kwargs:
                return (
                    f"called without `dim`, your function normalised along dim {other}: "
                    "the default should be dim=-1, the last dimension"
                )
            return f"you normalised along dim {other}, but dim={dim} was asked for"
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        return OVERFLOW
    if (got < 0).any():
        return "probabilities can't be negative"
    sums = got.sum(dim=dim)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        worst = sums.flatten()[(sums - 1).abs().flatten().argmax()].item()
        return f"the values along dim={dim} should sum to 1, but one group sums to {worst:.4g}"
    return None


def _softmax_cases(seed: int, n_random: int) -> list[Case]:
    fixed = [
        Case((torch.tensor([1.0, 2.0, 3.0]),)),
        Case((torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]),), {"dim": -1}),
        Case(
            (torch.tensor([[0.5, 2.0, -1.0], [3.0, 1.0, 2.0]]),),
            label="[[0.5, 2.0, -1.0], [3.0, 1.0, 2.0]] with the default dim",
        ),
        Case((torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]]),), {"dim": 0}),
        Case((torch.arange(24.0).reshape(2, 3, 4) / 7,), {"dim": 1}),
        Case(
            (torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]]),),
            {"dim": -1},
            label="very large scores [[1000, 1001, 1002], [-1000, -1001, -1002]]",
        ),
        Case((torch.zeros(2, 5),), {"dim": -1}),
        Case((torch.tensor([5.0]),)),
        Case((torch.arange(9.0).reshape(3, 3) ** 0.5,), {"dim": -1}),
        Case((torch.linspace(-2, 2, 12, dtype=torch.float64).reshape(3, 4),), {"dim": -1}),
    ]
    generator = torch.Generator().manual_seed(seed)
    randomised = []
    for _ in range(n_random):
        ndim = int(torch.randint(1, 5, (1,), generator=generator))
        shape = tuple(int(s) for s in torch.randint(1, 6, (ndim,), generator=generator))
        dim = int(torch.randint(-ndim, ndim, (1,), generator=generator))
        scale = [0.1, 1.0, 10.0, 50.0][int(torch.randint(0, 4, (1,), generator=generator))]
        x = torch.randn(shape, generator=generator) * scale
        randomised.append(Case((x,), {"dim": dim}))
    for case in fixed + randomised:
        # exp(x - max) in floating point carries a relative error of about eps * |x|, so
        # large scores get a proportionally looser relative tolerance.
        x = case.args[0]
        case.rtol = max(SOFTMAX_RTOL, 8 * float(x.abs().max()) * torch.finfo(x.dtype).eps)
    return fixed + randomised


@recognises(SOFTMAX_MISTAKES)
def softmax(learner_softmax, *, seed: int = 0, n_random: int = 20) -> None:
    """Check `softmax(x, dim=-1)` against `course_lib.softmax.softmax`."""
    fn = require_function(learner_softmax, "softmax")
    cases = _softmax_cases(seed, n_random)
    run_cases(
        "softmax",
        fn,
        reference.softmax,
        cases,
        signature="softmax(x, dim=-1)",
        mistakes=SOFTMAX_MISTAKES,
        diagnose=_diagnose_softmax,
        atol=SOFTMAX_ATOL,
        rtol=SOFTMAX_RTOL,
    )
    passed(
        "softmax",
        f"correct on {len(cases) - n_random} fixed and {n_random} random cases "
        f"(atol={SOFTMAX_ATOL:g}, rtol={SOFTMAX_RTOL:g}, looser for very large scores)",
    )


# --- cross-entropy -------------------------------------------------------------------------------

CROSS_ENTROPY_SIGNATURE = "cross_entropy(logits, targets)"
CROSS_ENTROPY_ATOL, CROSS_ENTROPY_RTOL = 1e-5, 1e-5


def _picked(logits: torch.Tensor, targets: torch.Tensor, log_probabilities: torch.Tensor):
    return log_probabilities[torch.arange(len(targets)), targets]


CROSS_ENTROPY_MISTAKES = [
    Mistake(
        "the losses are summed: average them over the examples (.mean()), so that the loss does "
        "not grow with the batch size",
        lambda x, t: -_picked(x, t, F.log_softmax(x, dim=-1)).sum(),
    ),
    Mistake(
        "the minus sign is missing: the loss is -log(probability of the right class), which is "
        "0 when that probability is 1 and grows as it shrinks",
        lambda x, t: _picked(x, t, F.log_softmax(x, dim=-1)).mean(),
    ),
    Mistake(
        "log(softmax(x)) underflows for a class far below the best one (its probability rounds "
        "to 0, and log(0) = -inf): compute log-softmax directly, (x - max) - log(sum(exp(x - "
        "max)))",
        lambda x, t: -_picked(x, t, torch.softmax(x, dim=-1).log()).mean(),
    ),
    Mistake(
        "logits[:, targets] picks, for every row, the columns of all the targets: pick one entry "
        "per row, log_probabilities[torch.arange(N), targets] (or .gather(1, targets[:, None]))",
        lambda x, t: -F.log_softmax(x, dim=-1)[:, t].mean(),
    ),
    Mistake(
        "the probability itself was used, not its log: the loss is -log(p) of the right class",
        lambda x, t: -_picked(x, t, torch.softmax(x, dim=-1)).mean(),
    ),
    Mistake(
        "the softmax ran over the examples (dim=0): each row's logits are turned into "
        "probabilities over the classes, log_softmax(logits, dim=-1)",
        lambda x, t: -_picked(x, t, F.log_softmax(x, dim=0)).mean(),
    ),
    Mistake(
        "the logits were used as log-probabilities: turn them into log-probabilities first, "
        "with log_softmax (logits minus their logsumexp)",
        lambda x, t: -_picked(x, t, x).mean(),
    ),
    Mistake(
        "every class's log-probability was averaged: the loss only takes the target class's "
        "-log(probability) for each example, log_probabilities[torch.arange(N), targets]",
        lambda x, t: -F.log_softmax(x, dim=-1).mean(),
    ),
    Mistake(
        "this is one loss per example: return their mean, a single number",
        lambda x, t: -_picked(x, t, F.log_softmax(x, dim=-1)),
    ),
]


def _cross_entropy_cases(seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    cases = [
        Case((torch.tensor([[2.0, 1.0, 0.1]]), torch.tensor([0]))),
        Case((torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 1.0]]), torch.tensor([2, 1]))),
        Case(
            (torch.tensor([[1000.0, 0.0, -5.0], [3.0, 900.0, 1.0]]), torch.tensor([1, 0])),
            label="large scores [[1000, 0, -5], [3, 900, 1]] with targets [1, 0]",
        ),
    ]
    for rows, classes in ((5, 4), (8, 10), (3, 2)):
        logits = 3 * torch.randn(rows, classes, generator=generator)
        targets = torch.randint(0, classes, (rows,), generator=generator)
        cases.append(Case((logits, targets)))
    return cases


@recognises(CROSS_ENTROPY_MISTAKES)
def cross_entropy(learner_fn, *, seed: int = 0) -> None:
    """Check `cross_entropy(logits (N, C), targets (N,)) -> scalar` against
    `torch.nn.functional.cross_entropy` (the mean of -log softmax(logits)[i, targets[i]])."""
    fn = require_function(learner_fn, "cross_entropy")
    cases = _cross_entropy_cases(seed)
    run_cases(
        "cross_entropy",
        fn,
        F.cross_entropy,
        cases,
        signature=CROSS_ENTROPY_SIGNATURE,
        mistakes=CROSS_ENTROPY_MISTAKES,
        atol=CROSS_ENTROPY_ATOL,
        rtol=CROSS_ENTROPY_RTOL,
    )
    passed(
        "cross_entropy",
        f"equal to torch.nn.functional.cross_entropy on {len(cases)} cases, large scores included",
    )
