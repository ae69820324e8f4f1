"""Parity of the reference softmax with torch.softmax (tolerances: float32 1e-6, float64 1e-12)."""

import pytest
import torch

from course_lib.softmax import softmax


@pytest.mark.parametrize(
    "shape, dim", [((5,), -1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1), ((2, 1, 3, 4), -2)]
)
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_matches_torch_softmax(shape, dim, scale):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * scale
    torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim), atol=1e-6, rtol=1e-5)


def test_float64_and_large_scores():
    x = torch.tensor([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]], dtype=torch.float64)
    result = softmax(x)
    assert result.dtype == torch.float64
    torch.testing.assert_close(result, torch.softmax(x, dim=-1), atol=1e-12, rtol=1e-12)


def test_gradients_match_torch():
    x = torch.randn(3, 5, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    weights = torch.randn(3, 5)
    (softmax(x) * weights).sum().backward()
    (torch.softmax(y, dim=-1) * weights).sum().backward()
    torch.testing.assert_close(x.grad, y.grad)
