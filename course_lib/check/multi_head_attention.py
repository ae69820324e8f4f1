"""Checks for notebook 03 (multi-head attention): split and merge heads, the module, the heads
as a Python loop, and copying `torch.nn.MultiheadAttention`'s weights."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch

from .. import multi_head_attention as reference
from ..attention import causal_mask, padding_mask, scaled_dot_product_attention
from .framework import (
    Built,
    Case,
    Mistake,
    call_plainly,
    passed,
    recognises,
    require_class,
    require_function,
    require_value_error,
    run_cases,
    run_module_cases,
    swapped_arguments,
    swapped_inputs,
    swapped_submodules,
)

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
    Mistake(
        "d_head = d_model // num_heads: use integer division (//); / gives a float, which "
        "reshape refuses",
        lambda x, h: x.reshape(x.shape[0], x.shape[1], h, x.shape[2] / h).transpose(1, 2),
    ),
    Mistake(
        "transpose after the reshape, not before: first reshape to (batch, seq, heads, d_head), "
        "then transpose(1, 2); transposing first cuts each feature's values across positions",
        lambda x, h: x.transpose(1, 2).reshape(x.shape[0], h, x.shape[1], x.shape[2] // h),
    ),
    Mistake(
        "the last axis was reshaped to (d_head, num_heads): reshape it to (num_heads, d_head), "
        "the number of heads first, then transpose(1, 2)",
        lambda x, h: x.reshape(x.shape[0], x.shape[1], x.shape[2] // h, h).transpose(1, 2),
    ),
    Mistake(
        "keep the heads as their own axis, (batch, num_heads, seq, d_head), not folded into the "
        "batch axis",
        lambda x, h: reference.split_heads(x, h).reshape(-1, x.shape[1], x.shape[2] // h),
    ),
    Mistake(
        "the heads axis must come second: torch.stack(x.chunk(num_heads, dim=-1), dim=1) gives "
        "(batch, heads, seq, d_head); stacking along dim 0 puts the heads first",
        lambda x, h: torch.stack(x.chunk(h, dim=-1)),
    ),
]


@recognises(SPLIT_MISTAKES)
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
    Mistake(
        "after transpose(1, 2) the tensor is not contiguous, so .view() fails: use .reshape() "
        "(or .contiguous().view())",
        lambda x: x.transpose(1, 2).view(x.shape[0], x.shape[2], -1),
    ),
    Mistake(
        "the heads were averaged: merging concatenates their features (d_model = heads * "
        "d_head), one head's block after another",
        lambda x: x.mean(dim=1),
    ),
    Mistake(
        "the heads were joined along the positions: concatenate them along the features, "
        "giving (batch, seq, heads * d_head)",
        lambda x: torch.cat(x.unbind(1), dim=1),
    ),
    Mistake(
        "after transpose(1, 2), reshape to (batch, seq, heads * d_head) to join the heads' "
        "features",
        lambda x: x.transpose(1, 2),
    ),
    Mistake(
        "flatten only the last two axes (heads, d_head): .flatten(2), or reshape(batch, seq, "
        "-1); flatten(1) joins the positions too",
        lambda x: x.transpose(1, 2).flatten(1),
    ),
    Mistake(
        "x.flatten(2) joins each head's positions: transpose(1, 2) first, to (batch, seq, "
        "heads, d_head), then flatten the last two axes",
        lambda x: x.flatten(2),
    ),
]


@recognises(MERGE_MISTAKES)
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
    """Five (course module, queries, keys, values, mask) cases: one and several heads, causal
    and padding masks, as many or other numbers of keys than queries. Keys and values are distinct
    tensors, so that using one for the other shows."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # module initialisation draws from the global generator
        for batch, lq, lk, d_model, heads, mask_kind in [
            (2, 4, 4, 8, 2, "causal"),
            (2, 3, 5, 12, 3, "padding"),
            (1, 4, 6, 16, 4, None),
            (3, 5, 5, 8, 1, None),
            (2, 6, 3, 16, 8, "padding"),
        ]:
            mha = reference.MultiHeadAttention(d_model, heads)
            q = torch.randn(batch, lq, d_model, generator=generator)
            k = torch.randn(batch, lk, d_model, generator=generator)
            v = torch.randn(batch, lk, d_model, generator=generator)
            mask = None
            if mask_kind == "causal":
                mask = causal_mask(lq)[None]  # (1, lq, lk): broadcasts over batch and heads
            elif mask_kind == "padding":
                mask = padding_mask(torch.randint(1, lk + 1, (batch,), generator=generator), lk)
            cases.append(Case((mha, q, k, v), {} if mask is None else {"mask": mask}))
    return cases


# --- the module ----------------------------------------------------------------------------------

MHA_SIGNATURE = "MultiHeadAttention(d_model, num_heads), forward(queries, keys, values, mask=None)"


def _module_with(**knobs) -> type:
    """The course's module with its forward pass replaced by `_forward` with one knob turned."""

    class Wrong(reference.MultiHeadAttention):
        def forward(self, queries, keys, values, mask=None):
            return _forward(self, queries, keys, values, mask, **knobs)

    return Wrong


class _MaskIgnored(reference.MultiHeadAttention):
    def forward(self, queries, keys, values, mask=None):
        return super().forward(queries, keys, values)


class _NoHeadAxis(reference.MultiHeadAttention):
    def forward(self, queries, keys, values, mask=None):
        q, k, v = (
            reference.split_heads(projection(x), self.num_heads)
            for projection, x in (
                (self.query_projection, queries),
                (self.key_projection, keys),
                (self.value_projection, values),
            )
        )
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # a 3-D mask as it is
        return self.output_projection(reference.merge_heads(out)), weights


class _WeightsAveraged(reference.MultiHeadAttention):
    def forward(self, queries, keys, values, mask=None):
        output, weights = super().forward(queries, keys, values, mask)
        return output, weights.mean(dim=1)


MODULE_MISTAKES = [
    Mistake(FORWARD_MISTAKES[0].hint, _module_with(project_output=False)),
    Mistake(FORWARD_MISTAKES[1].hint, _module_with(split=False)),
    Mistake(FORWARD_MISTAKES[2].hint, _module_with(scale="model")),
    Mistake(FORWARD_MISTAKES[3].hint, _module_with(share_kv=True)),
    Mistake(
        "the mask is not used: pass it to scaled_dot_product_attention, with a head axis added "
        "(mask.unsqueeze(1)) when it is (batch, num_queries, num_keys)",
        _MaskIgnored,
    ),
    Mistake(
        "return every head's weights, (batch, num_heads, num_queries, num_keys), not their "
        "average over heads",
        _WeightsAveraged,
    ),
    Mistake(
        "a (batch, num_queries, num_keys) mask needs a head axis to broadcast over the scores "
        "(batch, heads, num_queries, num_keys): mask.unsqueeze(1) when mask.dim() == 3",
        _NoHeadAxis,
    ),
    *swapped_inputs(
        reference.MultiHeadAttention,
        ("keys", "values"),
        note=": the keys (key_projection) make the scores, the values (value_projection) the "
        "output",
    ),
    *swapped_submodules(
        reference.MultiHeadAttention,
        ("key_projection", "value_projection"),
        ("query_projection", "key_projection"),
    ),
]


@recognises(MODULE_MISTAKES)
def multi_head_attention(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `MultiHeadAttention(d_model, num_heads)` class against the course's
    with copied weights: output (batch, Lq, d_model) and weights (batch, heads, Lq, Lk), with and
    without masks; sizes that do not divide must raise a ValueError."""
    cls = require_class(learner_class, "MultiHeadAttention")
    cases = [
        Case((Built(mha, (mha.d_model, mha.num_heads)), *case.args[1:]), case.kwargs)
        for case in _forward_cases(seed)
        for mha in case.args[:1]
    ]
    run_module_cases(
        "MultiHeadAttention",
        cls,
        cases,
        signature=MHA_SIGNATURE,
        mistakes=MODULE_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
        output_names=("output", "weights"),
    )
    require_value_error(
        lambda: cls(10, 3),
        "MultiHeadAttention(10, 3)",
        "says d_model must be divisible by num_heads (10 features cannot be cut into 3 equal "
        "heads)",
    )
    passed(
        "MultiHeadAttention",
        f"output and per-head weights match the course's module on {len(cases)} cases "
        f"(atol={ATOL:g}); indivisible sizes raise ValueError",
    )


# --- heads one at a time -------------------------------------------------------------------------

LOOP_SIGNATURE = "heads_one_at_a_time(mha, queries, keys, values, mask=None)"


def _loop(
    mha,
    queries,
    keys,
    values,
    mask=None,
    *,
    strided=False,
    project=True,
    scale="head",
    share_kv=False,
    project_inputs=True,
    cat_dim=-1,
):
    """`heads_one_at_a_time` with one knob turned: the catalogue of mistakes below."""
    d_head = mha.d_model // mha.num_heads
    q, k, v = queries, keys, values
    if project_inputs:
        value_projection = mha.key_projection if share_kv else mha.value_projection
        q, k, v = mha.query_projection(q), mha.key_projection(k), value_projection(v)
    outputs = []
    for head in range(mha.num_heads):
        features = (
            slice(head, None, mha.num_heads)
            if strided
            else slice(head * d_head, (head + 1) * d_head)
        )
        d = {"head": d_head, "model": mha.d_model}[scale]
        scores = q[..., features] @ k[..., features].transpose(-2, -1) / math.sqrt(d)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        outputs.append(torch.softmax(scores, dim=-1) @ v[..., features])
    merged = torch.cat(outputs, dim=cat_dim)
    return mha.output_projection(merged) if project else merged


LOOP_MISTAKES = [
    Mistake(
        "head h owns the contiguous block of features h * d_head ... (h + 1) * d_head - 1 "
        "(what split_heads gives it), not every num_heads-th feature",
        lambda *a, **k: _loop(*a, **k, strided=True),
    ),
    Mistake(
        "the output projection is missing: concatenate the heads' outputs along the features, "
        "then apply mha.output_projection",
        lambda *a, **k: _loop(*a, **k, project=False),
    ),
    Mistake(
        "scale each head's scores by 1/sqrt(d_head), the size of its slice, not 1/sqrt(d_model)",
        lambda *a, **k: _loop(*a, **k, scale="model"),
    ),
    Mistake(
        "the mask is not used: every head must attend with it (pass it on to "
        "scaled_dot_product_attention)",
        lambda mha, q, k, v, mask=None: _loop(mha, q, k, v),
    ),
    Mistake(
        "the values need their own projection: v = mha.value_projection(values)",
        lambda *a, **k: _loop(*a, **k, share_kv=True),
    ),
    Mistake(
        "the heads attend on slices of the raw inputs: project queries, keys and values first "
        "(mha.query_projection(queries), ...), then give each head its slice of the projections",
        lambda *a, **k: _loop(*a, **k, project_inputs=False),
    ),
    Mistake(
        "concatenate the heads' outputs along the features (dim=-1), giving (batch, Lq, "
        "d_model), not along the positions",
        lambda *a, **k: _loop(*a, **k, cat_dim=1),
    ),
    *swapped_arguments(reference.heads_one_at_a_time, ("keys", "values")),
]


@recognises(LOOP_MISTAKES)
def heads_one_at_a_time(learner_fn, *, seed: int = 0) -> None:
    """Check `heads_one_at_a_time(mha, queries, keys, values, mask=None)` -> output (batch, Lq,
    d_model) against the course module's forward (heads as a tensor axis)."""
    fn = require_function(learner_fn, "heads_one_at_a_time")
    cases = _forward_cases(seed)
    run_cases(
        "heads_one_at_a_time",
        fn,
        lambda mha, q, k, v, mask=None: mha(q, k, v, mask)[0],
        cases,
        signature=LOOP_SIGNATURE,
        mistakes=LOOP_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(
        "heads_one_at_a_time",
        f"the loop over heads gives the module's output on {len(cases)} cases (atol={ATOL:g})",
    )


# --- copying torch.nn.MultiheadAttention's weights -----------------------------------------------

LOAD_SIGNATURE = "load_from_torch(ours, theirs)"


def _load(
    ours,
    theirs,
    *,
    order=(0, 1, 2),
    biases=True,
    output=True,
    transpose=False,
    transpose_output=False,
    output_bias=True,
    no_grad=True,
    assign=False,
):
    """`load_from_torch` with one knob turned: the catalogue of mistakes below."""
    if assign:  # a plain tensor where a parameter is: nn.Module refuses it
        ours.query_projection.weight = theirs.in_proj_weight.chunk(3)[0]
    weights, in_biases = theirs.in_proj_weight.chunk(3), theirs.in_proj_bias.chunk(3)
    projections = (ours.query_projection, ours.key_projection, ours.value_projection)
    with torch.no_grad() if no_grad else contextlib.nullcontext():
        for projection, index in zip(projections, order, strict=True):
            projection.weight.copy_(weights[index].T if transpose else weights[index])
            if biases:
                projection.bias.copy_(in_biases[index])
        if output:
            weight = theirs.out_proj.weight
            ours.output_projection.weight.copy_(weight.T if transpose_output else weight)
            if output_bias:
                ours.output_projection.bias.copy_(theirs.out_proj.bias)


LOAD_MISTAKES = [
    Mistake(
        "in_proj_weight stacks the query, key and value projections in that order: rows "
        "0 ... d_model - 1 are the queries', the next d_model the keys', the last the values'",
        lambda ours, theirs: _load(ours, theirs, order=(1, 0, 2)),
    ),
    Mistake(
        "the biases were not copied: in_proj_bias holds the three input biases (stacked like "
        "the weights), and out_proj.bias the output projection's",
        lambda ours, theirs: _load(ours, theirs, biases=False),
    ),
    Mistake(
        "the output projection was not copied: out_proj.weight and out_proj.bias go into "
        "output_projection",
        lambda ours, theirs: _load(ours, theirs, output=False),
    ),
    Mistake(
        "nn.Linear stores its weight as (out_features, in_features), as in_proj_weight does: "
        "copy each (d_model, d_model) slice as it is, without transposing",
        lambda ours, theirs: _load(ours, theirs, transpose=True),
    ),
    Mistake(
        "the key and value projections are exchanged: in_proj_weight's middle d_model rows are "
        "the keys', the last d_model the values'",
        lambda ours, theirs: _load(ours, theirs, order=(0, 2, 1)),
    ),
    Mistake(
        "out_proj.weight is (out_features, in_features) like output_projection.weight: copy it "
        "as it is, without transposing",
        lambda ours, theirs: _load(ours, theirs, transpose_output=True),
    ),
    Mistake(
        "out_proj.bias was not copied into output_projection.bias",
        lambda ours, theirs: _load(ours, theirs, output_bias=False),
    ),
    Mistake(
        "copying into a parameter must not be recorded by autograd: do it inside `with "
        "torch.no_grad():`",
        lambda ours, theirs: _load(ours, theirs, no_grad=False),
    ),
    Mistake(
        "a module's weight cannot be replaced by a plain tensor: copy the values into it, "
        "ours.query_projection.weight.copy_(...), inside `with torch.no_grad():`",
        lambda ours, theirs: _load(ours, theirs, assign=True),
    ),
]


def _load_cases(seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for d_model, heads, lq, lk in [(8, 2, 4, 4), (12, 3, 3, 5), (16, 4, 5, 2)]:
            theirs = torch.nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
            with torch.no_grad():  # torch initialises the biases to zero: make them visible
                theirs.in_proj_bias.normal_()
                theirs.out_proj.bias.normal_()
            q, k, v = (torch.randn(2, n, d_model, generator=generator) for n in (lq, lk, lk))
            cases.append(Case((theirs, q, k, v)))
    return cases


def _loaded_by(fn, *, learner: bool = True) -> Callable:
    """(theirs, queries, keys, values) -> (output, weights) of a fresh course module into which
    `fn(ours, theirs)` copied theirs's weights. The learner's errors come with advice; a
    mistake's are left as they are, to be compared with the learner's."""

    def run(theirs, queries, keys, values):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            ours = reference.MultiHeadAttention(theirs.embed_dim, theirs.num_heads).eval()
        if learner:
            where = "load_from_torch(ours, theirs)"
            call_plainly(fn, "load_from_torch", where, LOAD_SIGNATURE, ours, theirs)
        else:
            fn(ours, theirs)
        with torch.no_grad():
            return ours(queries, keys, values)

    return run


def _torch_output(theirs, queries, keys, values):
    with torch.no_grad():
        return theirs(queries, keys, values, average_attn_weights=False)


@recognises(LOAD_MISTAKES)
def load_from_torch(learner_fn, *, seed: int = 0) -> None:
    """Check `load_from_torch(ours, theirs)`: after it copies a `torch.nn.MultiheadAttention`'s
    weights into a course `MultiHeadAttention`, both give the same outputs and weights."""
    fn = require_function(learner_fn, "load_from_torch")
    cases = _load_cases(seed)
    run_cases(
        "load_from_torch",
        _loaded_by(fn),
        _torch_output,
        cases,
        signature=LOAD_SIGNATURE,
        mistakes=[
            Mistake(m.hint, _loaded_by(m.wrong_implementation, learner=False))
            for m in LOAD_MISTAKES
        ],
        atol=ATOL,
        rtol=RTOL,
        differentiable=False,  # copying weights; the outputs are compared without gradients
        output_names=("output", "weights"),
    )
    passed(
        "load_from_torch",
        f"with the copied weights, outputs and weights equal torch's on {len(cases)} cases "
        f"(atol={ATOL:g})",
    )
