"""Softmax: turning scores into probabilities (notebook 00).

The reference implementation the notebook 00 exercise is checked against, and the one later
notebooks use (attention weights are a softmax of scores).
"""

from __future__ import annotations

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax of `x` along `dim`.

    Shapes: `x` is any shape; the result has the same shape and dtype, non-negative, and sums
    to 1 along `dim`. Subtracting the maximum first changes nothing mathematically
    (exp(a - m) / sum exp(b - m) = exp(a) / sum exp(b)) but keeps exp() from overflowing.
    """
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
