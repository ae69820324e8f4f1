"""Parity of course attention with torch.nn.functional.scaled_dot_product_attention (atol 1e-5),
masks, and clear errors on bad input."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import (
    AdditiveAttention,
    AttentionSeq2SeqGRU,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)


def _qkv(*batch, queries=4, keys=6, d_k=8, d_v=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*batch, queries, d_k, generator=generator),
        torch.randn(*batch, keys, d_k, generator=generator),
        torch.randn(*batch, keys, d_v, generator=generator),
    )


@pytest.mark.parametrize("mask_kind", ["none", "padding", "causal", "padding+causal", "full"])
def test_matches_torch_sdpa(mask_kind):
    q, k, v = _qkv(2, 3, queries=6, keys=6)
    masks = {
        "none": None,
        "padding": padding_mask(torch.tensor([4, 6]), 6)[:, None],  # (2, 1, 1, 6)
        "causal": causal_mask(6),
        "padding+causal": padding_mask(torch.tensor([4, 6]), 6)[:, None] & causal_mask(6),
        "full": torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.3,
    }
    mask = masks[mask_kind]
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(
        output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 6))


def test_weights_are_zero_where_masked_and_causal_matches_torch():
    assert torch.equal(
        causal_mask(5), ~torch.nn.Transformer.generate_square_subsequent_mask(5).isinf()
    )
    q, k, v = _qkv(1, queries=3, keys=3)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(3))
    assert torch.all(weights[0].triu(1) == 0)


def test_causal_mask_with_more_keys_than_queries():
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_padding_mask_shape_and_values():
    mask = padding_mask(torch.tensor([1, 3]), 3)
    assert mask.shape == (2, 1, 3) and mask.dtype == torch.bool
    assert mask[:, 0].tolist() == [[True, False, False], [True, True, True]]


@pytest.mark.parametrize(
    "mask, message",
    [
        (
            torch.ones(2, 5, dtype=torch.bool),
            r"mask of shape \(2, 5\) does not broadcast to scores "
            r"\(2, 3, 4, 6\)",
        ),
        (torch.ones(4, 6), "mask must be a boolean tensor"),
    ],
)
def test_bad_masks_are_explained(mask, message):
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(*_qkv(2, 3), mask)


def test_bad_shapes_are_explained():
    q, k, v = _qkv(2)
    with pytest.raises(ValueError, match="same last dimension d_k"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="same number of positions"):
        scaled_dot_product_attention(q, k, v[:, :2])


def test_additive_attention_weights_sum_to_one_and_respect_the_mask():
    torch.manual_seed(0)
    attention = AdditiveAttention(query_size=8, key_size=8, hidden_size=16)
    q, k, v = _qkv(2)
    mask = padding_mask(torch.tensor([2, 6]), 6)
    output, weights = attention(q, k, v, mask)
    assert output.shape == (2, 4, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))
    assert torch.all(weights[0, :, 2:] == 0)


def test_attention_seq2seq_greedy_decoding_is_consistent_and_returns_weights():
    torch.manual_seed(0)
    model = AttentionSeq2SeqGRU(10, 12, embedding_dim=8, hidden_size=16).eval()
    source, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    ids, weights = model.greedy_decode(
        source, lengths, max_len=5, bos_id=1, eos_id=2, return_attention=True
    )
    assert weights.shape == (2, ids.shape[1], 3)
    assert torch.all(weights[1, :, 2] == 0)  # padding gets no attention
    target_input = torch.cat([torch.ones(2, 1, dtype=torch.long), ids[:, :-1]], dim=1)
    assert torch.equal(model(source, lengths, target_input).argmax(-1), ids)
