"""Checks for notebook 03 (multi-head attention): split heads, merge heads, the forward pass."""

from __future__ import annotations

import math

import torch

from .. import multi_head_attention as reference
from ..attention import causal_mask, padding_mask
from .framework import Case, Mistake, passed, require_function, run_cases

ATOL, RTOL = 1e-5, 1e-5


def _tensor_cases(shapes, seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    return [Case((torch.randn(*shape, generator=generator), heads)) for shape, heads in shapes]


SPLIT_MISTAKES = [
    Mistake(
        "the heads were split along the wrong axis: a plain reshape to (batch, heads, seq, "
        "d_head) mixes positions; reshape to (batch, seq, heads, d_head), then transpose(1, 2)",
        lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h),
    ),
    Mistake(
        "each head must get a contiguous block of d_head features: reshape the last axis as "
        "(heads, d_head), not (d_head, heads)",
        lambda x, h: x.reshape(x.shape[0], x.shape[1], x.shape[2] // h, h).permute(0, 3, 1, 2),
    ),
    Mistake(
        "the heads axis must come second: transpose(1, 2) after the reshape, giving (batch, "
        "heads, seq, d_head)",
        lambda x, h: x.reshape(x.shape[0], x.shape[1], h, x.shape[2] // h),
    ),
]


def split_heads(learner_fn, *, seed: int = 0) -> None:
    """Check `split_heads(x, num_heads)`: (batch, seq, d_model) -> (batch, heads, seq, d_head)."""
    fn = require_function(learner_fn, "split_heads")
    cases = _tensor_cases(
        [((2, 4, 8), 2), ((1, 3, 12), 4), ((3, 5, 6), 3), ((2, 2, 4), 1), ((2, 6, 16), 8)], seed
    )
    run_cases(
        "split_heads",
        fn,
        reference.split_heads,
        cases,
        signature="split_heads(x, num_heads)",
        mistakes=SPLIT_MISTAKES,
        atol=0,
        rtol=0,
    )
    passed("split_heads", f"correct on {len(cases)} cases")


MERGE_MISTAKES = [
    Mistake(
        "merged without transposing back: transpose(1, 2) to (batch, seq, heads, d_head) "
        "before reshaping to (batch, seq, d_model)",
        lambda x: x.reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]),
    ),
    Mistake(
        "the features of a position must be head 0's block, then head 1's, and so on: "
        "transpose(1, 2), not a permutation that puts d_head before heads",
        lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1),
    ),
]


def merge_heads(learner_fn, *, seed: int = 0) -> None:
    """Check `merge_heads(x)`: (batch, heads, seq, d_head) -> (batch, seq, heads * d_head)."""
    fn = require_function(learner_fn, "merge_heads")
    generator = torch.Generator().manual_seed(seed)
    cases = [
        Case((torch.randn(*shape, generator=generator),))
        for shape in [(2, 2, 4, 4), (1, 4, 3, 3), (3, 3, 5, 2), (2, 1, 2, 4), (2, 8, 6, 2)]
    ]
    run_cases(
        "merge_heads",
        fn,
        reference.merge_heads,
        cases,
        signature="merge_heads(x)",
        mistakes=MERGE_MISTAKES,
        atol=0,
        rtol=0,
    )
    passed("merge_heads", f"correct on {len(cases)} cases")


def _forward(
    mha,
    queries,
    keys,
    values,
    mask=None,
    *,
    project_output=True,
    split=True,
    scale="head",
    share_kv=False,
):
    """The reference forward with one knob turned: the catalogue of mistakes below."""
    heads = mha.num_heads if split else 1
    q = reference.split_heads(mha.query_projection(queries), heads)
    k = reference.split_heads(mha.key_projection(keys), heads)
    value_source = mha.key_projection if share_kv else mha.value_projection
    v = reference.split_heads(value_source(values), heads)
    d = {"head": q.shape[-1], "model": mha.d_model}[scale]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~reference._with_head_axis(mask), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = reference.merge_heads(weights @ v)
    return (mha.output_projection(out) if project_output else out), weights


FORWARD_MISTAKES = [
    Mistake(
        "the output projection is missing: end with mha.output_projection(merged)",
        lambda *a, **k: _forward(*a, **k, project_output=False),
    ),
    Mistake(
        "the projections are not split into heads: this is single-head attention; use "
        "split_heads(..., mha.num_heads) on queries, keys and values",
        lambda *a, **k: _forward(*a, **k, split=False),
    ),
    Mistake(
        "scale by 1/sqrt(d_head), the size of one head's vectors, not 1/sqrt(d_model)",
        lambda *a, **k: _forward(*a, **k, scale="model"),
    ),
    Mistake(
        "the values need their own projection: use mha.value_projection(values)",
        lambda *a, **k: _forward(*a, **k, share_kv=True),
    ),
]


def _forward_cases(seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # module initialisation draws from the global generator
    try:
        cases = []
        for batch, lq, lk, d_model, heads, mask_kind in [
            (2, 4, 4, 8, 2, "causal"),
            (2, 3, 5, 12, 3, "padding"),
            (1, 4, 6, 16, 4, None),
            (3, 5, 5, 8, 1, None),
            (2, 6, 3, 16, 8, "padding"),
        ]:
            mha = reference.MultiHeadAttention(d_model, heads)
            q = torch.randn(batch, lq, d_model, generator=generator)
            kv = torch.randn(batch, lk, d_model, generator=generator)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(lq)[None]  # (1, lq, lk): broadcasts over batch and heads
            elif mask_kind == "padding":
                mask = padding_mask(torch.randint(1, lk + 1, (batch,), generator=generator), lk)
            cases.append(Case((mha, q, kv, kv), {} if mask is None else {"mask": mask}))
        return cases
    finally:
        torch.random.set_rng_state(torch_state)


def multi_head_attention_forward(learner_fn, *, seed: int = 0) -> None:
    """Check `multi_head_attention_forward(mha, queries, keys, values, mask=None)` against
    `MultiHeadAttention.forward`; it returns (output, weights (batch, heads, Lq, Lk))."""
    fn = require_function(learner_fn, "multi_head_attention_forward")
    cases = _forward_cases(seed)
    run_cases(
        "multi_head_attention_forward",
        fn,
        lambda mha, q, k, v, mask=None: mha(q, k, v, mask),
        cases,
        signature="multi_head_attention_forward(mha, queries, keys, values, mask=None)",
        mistakes=FORWARD_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
        output_names=("output", "weights"),
    )
    passed(
        "multi_head_attention_forward",
        f"output and per-head weights match on {len(cases)} cases (atol={ATOL:g})",
    )
