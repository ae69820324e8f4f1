"""Checks for notebook 01 (RNN baselines): one RNN step and one GRU step."""

from __future__ import annotations

import torch

from .. import rnn as reference
from .framework import Case, Mistake, passed, require_function, run_cases

ATOL, RTOL = 1e-5, 1e-5
SIGNATURE = "{name}(x, h, weight_ih, weight_hh, bias_ih, bias_hh)"


def _cases(gates: int, seed: int, n_random: int) -> list[Case]:
    """(batch, input, hidden) shapes: non-square ones catch missing transposes with an error,
    square ones (input == hidden) let swapped or untransposed weights run, so we can name them."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(2, 6, 6), (4, 5, 5), (3, 4, 5), (1, 3, 2)]  # square first: see above
    for _ in range(n_random):
        batch, inputs, hidden = (int(v) for v in torch.randint(1, 7, (3,), generator=generator))
        shapes.append((batch, inputs, hidden))
    cases = []
    for batch, inputs, hidden in shapes:

        def tensor(*shape):
            return torch.randn(*shape, generator=generator)

        args = (
            tensor(batch, inputs),
            tensor(batch, hidden),
            tensor(gates * hidden, inputs),
            tensor(gates * hidden, hidden),
            tensor(gates * hidden),
            tensor(gates * hidden),
        )
        label = f"x {tuple(args[0].shape)}, h {tuple(args[1].shape)}, hidden_size={hidden}"
        cases.append(Case(args, label=label))
    return cases


RNN_MISTAKES = [
    Mistake(
        "wrong nonlinearity: a vanilla RNN squashes with tanh, not sigmoid",
        lambda x, h, wi, wh, bi, bh: torch.sigmoid(x @ wi.T + bi + h @ wh.T + bh),
    ),
    Mistake(
        "wrong nonlinearity: a vanilla RNN squashes with tanh, not ReLU",
        lambda x, h, wi, wh, bi, bh: torch.relu(x @ wi.T + bi + h @ wh.T + bh),
    ),
    Mistake(
        "the tanh is missing: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)",
        lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh,
    ),
    Mistake(
        "the weights are not transposed: PyTorch stores them as (hidden, input), so use "
        "x @ weight_ih.T and h @ weight_hh.T",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi + bi + h @ wh + bh),
    ),
    Mistake(
        "weight_ih goes with the input x and weight_hh with the previous state h; you swapped them",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wh.T + bi + h @ wi.T + bh),
    ),
    Mistake(
        "the previous state is ignored: add h @ weight_hh.T + bias_hh",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi),
    ),
    Mistake(
        "a bias is missing: PyTorch's RNN has two, bias_ih and bias_hh; add both",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + h @ wh.T + bh),
    ),
    Mistake(
        "a bias is missing: PyTorch's RNN has two, bias_ih and bias_hh; add both",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi + h @ wh.T),
    ),
]


def _check_cell(name: str, learner_fn, gates: int, mistakes, seed: int, n_random: int) -> None:
    fn = require_function(learner_fn, name)
    cases = _cases(gates, seed, n_random)
    run_cases(
        name,
        fn,
        getattr(reference, name),
        cases,
        signature=SIGNATURE.format(name=name),
        mistakes=mistakes,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(name, f"matches the reference on {len(cases)} cases (atol={ATOL:g})")


def rnn_cell_step(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `rnn_cell_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)` (vanilla RNN step)."""
    _check_cell("rnn_cell_step", learner_fn, 1, RNN_MISTAKES, seed, n_random)


def _gru(
    x,
    h,
    wi,
    wh,
    bi,
    bh,
    *,
    order=(0, 1, 2),
    gate=torch.sigmoid,
    candidate=torch.tanh,
    reset_style="after",
    swap_update=False,
):
    """A GRU step with one knob turned: the catalogue of likely mistakes below."""
    input_parts = (x @ wi.T + bi).chunk(3, dim=-1)
    hidden_parts = (h @ wh.T + bh).chunk(3, dim=-1)
    ir, iz, i_n = (input_parts[i] for i in order)
    hr, hz, h_n = (hidden_parts[i] for i in order)
    reset, update = gate(ir + hr), gate(iz + hz)
    if reset_style == "after":
        new = candidate(i_n + reset * h_n)
    elif reset_style == "before":  # Cho et al.'s original: reset the state, then multiply
        hidden_size = h.shape[-1]
        w_hn, b_hn = wh[2 * hidden_size :], bh[2 * hidden_size :]
        new = candidate(i_n + (reset * h) @ w_hn.T + b_hn)
    elif reset_style == "whole":
        new = candidate(reset * (i_n + h_n))
    elif reset_style == "bias outside":
        hidden_size = h.shape[-1]
        new = candidate(i_n + reset * (h_n - bh[2 * hidden_size :]) + bh[2 * hidden_size :])
    else:  # "unused"
        new = candidate(i_n + h_n)
    if swap_update:
        return update * new + (1 - update) * h
    return (1 - update) * new + update * h


GRU_MISTAKES = [
    Mistake(
        "wrong nonlinearity: the reset and update gates use sigmoid (values in 0..1); only "
        "the candidate n uses tanh",
        lambda *a: _gru(*a, gate=torch.tanh),
    ),
    Mistake(
        "wrong nonlinearity: the candidate state n uses tanh, not sigmoid",
        lambda *a: _gru(*a, candidate=torch.sigmoid),
    ),
    Mistake(
        "z and 1 - z are swapped: in PyTorch's convention h' = (1 - z) * n + z * h (z "
        "keeps the old state)",
        lambda *a: _gru(*a, swap_update=True),
    ),
    Mistake(
        "the gates are taken in the wrong order: PyTorch stacks them as reset, update, new "
        "(r, z, n)",
        lambda *a: _gru(*a, order=(1, 0, 2)),
    ),
    Mistake(
        "the reset gate is applied before the matrix product ((r * h) @ W_hn.T, as in Cho et "
        "al.'s paper); PyTorch applies it after: r * (h @ W_hn.T + b_hn)",
        lambda *a: _gru(*a, reset_style="before"),
    ),
    Mistake(
        "the reset gate should scale only the hidden part of the candidate: "
        "n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))",
        lambda *a: _gru(*a, reset_style="whole"),
    ),
    Mistake(
        "b_hn belongs inside the reset product: r * (h @ W_hn.T + b_hn)",
        lambda *a: _gru(*a, reset_style="bias outside"),
    ),
    Mistake(
        "the reset gate is never used in the candidate n", lambda *a: _gru(*a, reset_style="unused")
    ),
]


def gru_cell_step(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `gru_cell_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)` against nn.GRUCell's
    equations."""
    _check_cell("gru_cell_step", learner_fn, 3, GRU_MISTAKES, seed, n_random)
