"""Parity of the course's MultiHeadAttention with torch.nn.MultiheadAttention (weights copied;
float32, atol 1e-5), the fast path, the loop over heads, and the checkers of notebook 03."""

import pytest
import torch
from torch import nn

from course_lib import check
from course_lib import multi_head_attention as mha_module
from course_lib.attention import causal_mask, padding_mask
from course_lib.check.multi_head_attention import (
    LOAD_MISTAKES,
    LOOP_MISTAKES,
    MERGE_MISTAKES,
    MODULE_MISTAKES,
    SPLIT_MISTAKES,
)
from course_lib.multi_head_attention import (
    MultiHeadAttention,
    MultiHeadAttentionSeq2SeqGRU,
    heads_one_at_a_time,
    merge_heads,
    split_heads,
)


def _pair(d_model=16, heads=4, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    return MultiHeadAttention(d_model, heads).load_from_torch(theirs).eval(), theirs


@pytest.mark.parametrize("kind", ["self", "cross", "padding", "causal", "padding+causal"])
def test_matches_torch_multihead_attention(kind):
    ours, theirs = _pair()
    generator = torch.Generator().manual_seed(1)
    queries = torch.randn(2, 5, 16, generator=generator)
    memory = (
        queries
        if kind in ("self", "causal", "padding+causal")
        else torch.randn(2, 7, 16, generator=generator)
    )
    num_keys = memory.shape[1]
    valid = padding_mask(torch.tensor([num_keys, 3]), num_keys)  # (2, 1, keys)
    ours_mask, torch_kwargs = None, {}
    if kind == "padding":
        ours_mask, torch_kwargs = valid, {"key_padding_mask": ~valid[:, 0]}
    elif kind == "causal":
        ours_mask, torch_kwargs = causal_mask(5)[None], {"attn_mask": ~causal_mask(5)}
    elif kind == "padding+causal":
        ours_mask = valid & causal_mask(5)
        torch_kwargs = {"key_padding_mask": ~valid[:, 0], "attn_mask": ~causal_mask(5)}
    output, weights = ours(queries, memory, memory, ours_mask)
    their_output, their_weights = theirs(
        queries, memory, memory, average_attn_weights=False, **torch_kwargs
    )
    torch.testing.assert_close(output, their_output, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, their_weights, atol=1e-5, rtol=1e-5)


def test_fast_path_and_loop_over_heads_match_the_readable_path():
    ours, _ = _pair(d_model=32, heads=8)
    fast = MultiHeadAttention(32, 8, fast=True).eval()
    fast.load_state_dict(ours.state_dict())
    x, memory = torch.randn(3, 6, 32), torch.randn(3, 9, 32)
    mask = padding_mask(torch.tensor([9, 4, 1]), 9)
    readable, _ = ours(x, memory, memory, mask)
    fast_output, fast_weights = fast(x, memory, memory, mask)
    assert fast_weights is None
    torch.testing.assert_close(fast_output, readable, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        heads_one_at_a_time(ours, x, memory, memory, mask), readable, atol=1e-5, rtol=1e-5
    )


def test_parameter_count_does_not_depend_on_the_number_of_heads():
    counts = {h: sum(p.numel() for p in MultiHeadAttention(64, h).parameters()) for h in (1, 4, 8)}
    assert len(set(counts.values())) == 1 and counts[1] == 4 * (64 * 64 + 64)


def test_split_and_merge_are_inverse_and_validate():
    x = torch.randn(2, 5, 12)
    assert split_heads(x, 3).shape == (2, 3, 5, 4)
    assert torch.equal(merge_heads(split_heads(x, 3)), x)
    # head h holds features h * d_head ... (h + 1) * d_head - 1 of each position
    assert torch.equal(split_heads(x, 3)[:, 1], x[..., 4:8])
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(x, 5)
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3)


def test_multi_head_translator_returns_per_head_weights():
    torch.manual_seed(0)
    model = MultiHeadAttentionSeq2SeqGRU(10, 12, embedding_dim=8, hidden_size=16, num_heads=4)
    model.eval()
    source, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    ids, weights = model.greedy_decode(
        source, lengths, max_len=5, bos_id=1, eos_id=2, return_attention=True
    )
    assert weights.shape == (2, 4, ids.shape[1], 3)
    assert torch.all(weights[1, :, :, 2] == 0)


CHECKERS = {
    "split_heads": (check.split_heads, mha_module.split_heads, SPLIT_MISTAKES),
    "merge_heads": (check.merge_heads, mha_module.merge_heads, MERGE_MISTAKES),
    "MultiHeadAttention": (check.multi_head_attention, MultiHeadAttention, MODULE_MISTAKES),
    "heads_one_at_a_time": (check.heads_one_at_a_time, heads_one_at_a_time, LOOP_MISTAKES),
    "load_from_torch": (
        check.load_from_torch,
        lambda ours, theirs: ours.load_from_torch(theirs),
        LOAD_MISTAKES,
    ),
}
PLANTED = [(name, mistake) for name, (_, _, mistakes) in CHECKERS.items() for mistake in mistakes]


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_passes(name, capsys):
    checker, reference, _ = CHECKERS[name]
    checker(reference)
    assert capsys.readouterr().out.startswith(f"✅ {name}")


@pytest.mark.parametrize("name, mistake", PLANTED, ids=[f"{n}: {m.hint[:40]}" for n, m in PLANTED])
def test_each_planted_mistake_gets_its_hint(name, mistake):
    with pytest.raises(check.CheckFailed) as failure:
        CHECKERS[name][0](mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_view_after_transpose_gets_advice():
    def merge_with_view(x):
        return x.transpose(1, 2).view(x.shape[0], x.shape[2], -1)

    with pytest.raises(check.CheckFailed, match="use .reshape"):
        check.merge_heads(merge_with_view)


def test_a_module_accepting_indivisible_sizes_is_refused():
    class Lenient(MultiHeadAttention):
        def __init__(self, d_model, num_heads):
            nn.Module.__init__(self)
            self.d_model, self.num_heads, self.fast = d_model, num_heads, False
            for name in ("query", "key", "value", "output"):
                setattr(self, f"{name}_projection", nn.Linear(d_model, d_model))
            self.dropout = nn.Dropout(0.0)

    with pytest.raises(check.CheckFailed, match="raise a ValueError"):
        check.multi_head_attention(Lenient)


def test_an_instance_instead_of_the_class_gets_advice():
    with pytest.raises(check.CheckFailed, match="instead of the class"):
        check.multi_head_attention(MultiHeadAttention(8, 2))


def test_copying_into_parameters_with_autograd_on_gets_advice():
    def load_with_grad(ours, theirs):
        ours.query_projection.weight.copy_(theirs.in_proj_weight[: theirs.embed_dim])

    with pytest.raises(check.CheckFailed, match=r"torch.no_grad\(\)"):
        check.load_from_torch(load_with_grad)
