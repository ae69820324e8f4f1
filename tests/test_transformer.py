"""Parity of the course Transformer with torch.nn (weights copied; float32, atol 1e-5), positional
encoding, masks, and the translation model's decoding."""

import math

import pytest
import torch
from torch import nn

from course_lib import check
from course_lib import transformer as reference
from course_lib.attention import causal_mask, padding_mask
from course_lib.check.transformer import (
    BEAM_MISTAKES,
    DECODER_LAYER_MISTAKES,
    ENCODER_LAYER_MISTAKES,
    ENCODING_MISTAKES,
    FEED_FORWARD_MISTAKES,
    LENGTH_MISTAKES,
    MASK_MISTAKES,
    SUBLAYER_MISTAKES,
    TRANSFORMER_MISTAKES,
    WITHIN_MISTAKES,
)
from course_lib.metrics import value_within_seconds
from course_lib.transformer import (
    DecoderLayer,
    EncoderLayer,
    TokenEmbedding,
    TransformerStack,
    TranslationTransformer,
    beam_search,
    length_normalized,
    positional_encoding,
)

ATOL = 1e-5


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_layer_matches_torch(norm_first):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(
        32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first
    ).eval()
    ours = EncoderLayer(32, 4, 64, norm_first=norm_first).load_from_torch(theirs).eval()
    x = torch.randn(2, 6, 32)
    valid = padding_mask(torch.tensor([6, 4]), 6)
    torch.testing.assert_close(
        ours(x, valid), theirs(x, src_key_padding_mask=~valid[:, 0]), atol=ATOL, rtol=ATOL
    )


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_decoder_layer_matches_torch(norm_first):
    torch.manual_seed(0)
    theirs = nn.TransformerDecoderLayer(
        32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first
    ).eval()
    ours = DecoderLayer(32, 4, 64, norm_first=norm_first).load_from_torch(theirs).eval()
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    valid = padding_mask(torch.tensor([7, 3]), 7)
    expected = theirs(
        x,
        memory,
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
        memory_key_padding_mask=~valid[:, 0],
    )
    torch.testing.assert_close(
        ours(x, memory, causal_mask(5), valid), expected, atol=ATOL, rtol=ATOL
    )


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_full_stack_matches_torch_transformer(norm_first):
    torch.manual_seed(0)
    theirs = nn.Transformer(
        d_model=32,
        nhead=4,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=64,
        dropout=0.0,
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    ours = TransformerStack(32, 4, 2, 2, 64, norm_first=norm_first).load_from_torch(theirs).eval()
    source, target = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    valid = padding_mask(torch.tensor([7, 4]), 7)
    expected = theirs(
        source,
        target,
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
        src_key_padding_mask=~valid[:, 0],
        memory_key_padding_mask=~valid[:, 0],
    )
    got = ours(source, target, source_mask=valid, target_mask=causal_mask(5), memory_mask=valid)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=ATOL)


def test_fast_attention_path_matches_the_readable_one():
    torch.manual_seed(0)
    readable = TransformerStack(32, 4, 1, 1, 64).eval()
    fast = TransformerStack(32, 4, 1, 1, 64, fast=True).eval()
    fast.load_state_dict(readable.state_dict())
    source, target = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    valid = padding_mask(torch.tensor([7, 4]), 7)
    arguments = dict(source_mask=valid, target_mask=causal_mask(5), memory_mask=valid)
    torch.testing.assert_close(
        fast(source, target, **arguments),
        readable(source, target, **arguments),
        atol=ATOL,
        rtol=ATOL,
    )


def test_positional_encoding_values_and_shape():
    encoding = positional_encoding(50, 16)
    assert encoding.shape == (50, 16)
    assert torch.equal(encoding[0, 0::2], torch.zeros(8))  # sin(0)
    assert torch.equal(encoding[0, 1::2], torch.ones(8))  # cos(0)
    position, i = 7, 3
    angle = position / 10000 ** (2 * i / 16)
    assert encoding[position, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert encoding[position, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        positional_encoding(10, 5)


def test_scaled_embeddings_have_unit_size_and_the_default_init_does_not():
    torch.manual_seed(0)
    ids = torch.arange(1, 100)
    consistent = TokenEmbedding(100, 128)(ids)
    default = TokenEmbedding(100, 128, default_init=True)(ids)
    assert 0.8 < consistent.std().item() < 1.2
    assert default.std().item() > 8  # sqrt(128) ~ 11: it drowns the positional encoding


def test_translation_transformer_greedy_decoding_is_consistent():
    torch.manual_seed(0)
    model = TranslationTransformer(10, 12, d_model=16, num_heads=2, num_layers=1, d_ff=32).eval()
    source, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    ids = model.greedy_decode(source, lengths, max_len=5, bos_id=1, eos_id=2)
    target_input = torch.cat([torch.ones(2, 1, dtype=torch.long), ids[:, :-1]], dim=1)
    assert torch.equal(model(source, lengths, target_input).argmax(-1), ids)
    # padding in the source changes nothing
    padded = torch.tensor([[7, 8, 0, 0, 0]])
    torch.testing.assert_close(
        model(padded, torch.tensor([2]), target_input[1:]),
        model(padded[:, :2], torch.tensor([2]), target_input[1:]),
        atol=ATOL,
        rtol=ATOL,
    )


def test_beam_search_of_width_one_is_greedy_and_scores_are_the_models_log_probabilities():
    for seed in range(3):
        torch.manual_seed(seed)
        model = TranslationTransformer(
            10, 12, d_model=16, num_heads=2, num_layers=1, d_ff=32
        ).eval()
        source = torch.tensor([[4, 5, 6, 7]])
        # eos_id 11 is (almost) never produced by this random model: every beam runs 6 steps
        greedy = model.greedy_decode(source, torch.tensor([4]), 6, bos_id=1, eos_id=11)
        ((narrow_ids, narrow_score),) = beam_search(
            model, source, 4, beam_size=1, max_len=6, bos_id=1, eos_id=11, alpha=0.0
        )
        assert narrow_ids == greedy[0].tolist()
        wide = beam_search(model, source, 4, beam_size=4, max_len=6, bos_id=1, eos_id=11, alpha=0.0)
        assert len(wide) >= 4 and len({tuple(ids) for ids, _ in wide}) == len(wide)
        assert [score for _, score in wide] == sorted((score for _, score in wide), reverse=True)
        for ids, score in [*wide, (narrow_ids, narrow_score)]:  # alpha 0: summed log-probability
            memory, mask = model.encode(source, torch.tensor([4]))
            ended = [11] if len(ids) < 6 else []  # a hypothesis that stopped wrote <eos>
            tokens = torch.tensor([[1, *ids, *ended]])
            log_probs = model.decode(tokens[:, :-1], memory, mask).log_softmax(-1)
            total = log_probs[0].gather(1, tokens[0, 1:, None]).sum().item()
            assert abs(total - score) < 1e-4


def test_length_normalisation():
    assert length_normalized(-4.0, 4, alpha=0.0) == -4.0
    assert length_normalized(-4.0, 4, alpha=1.0) == -1.0
    # a longer hypothesis with the same per-token quality is no longer penalised
    assert length_normalized(-8.0, 8, alpha=1.0) == length_normalized(-4.0, 4, alpha=1.0)


def _checkers_04():
    return {
        "positional_encoding": (
            check.positional_encoding,
            reference.positional_encoding,
            ENCODING_MISTAKES,
        ),
        "decoder_self_attention_mask": (
            check.decoder_self_attention_mask,
            reference.decoder_self_attention_mask,
            MASK_MISTAKES,
        ),
        "beam_step": (check.beam_step, reference.beam_step, BEAM_MISTAKES),
        "length_normalized": (
            check.length_normalized,
            reference.length_normalized,
            LENGTH_MISTAKES,
        ),
        "value_within_seconds": (
            check.value_within_seconds,
            value_within_seconds,
            WITHIN_MISTAKES,
        ),
        "sublayer_connection": (
            check.sublayer_connection,
            reference.sublayer_connection,
            SUBLAYER_MISTAKES,
        ),
        "FeedForward": (check.feed_forward, reference.FeedForward, FEED_FORWARD_MISTAKES),
        "EncoderLayer": (check.encoder_layer, reference.EncoderLayer, ENCODER_LAYER_MISTAKES),
        "DecoderLayer": (check.decoder_layer, reference.DecoderLayer, DECODER_LAYER_MISTAKES),
        "Transformer": (
            check.transformer_model,
            reference.TranslationTransformer,
            TRANSFORMER_MISTAKES,
        ),
    }


def _planted_04():
    return [
        (name, index)
        for name, (_, _, mistakes) in _checkers_04().items()
        for index in range(len(mistakes))
    ]


@pytest.mark.parametrize("name", list(_checkers_04()))
def test_notebook_04_reference_passes(name, capsys):
    checker, reference, _ = _checkers_04()[name]
    checker(reference)
    assert capsys.readouterr().out.startswith(f"✅ {name}")


@pytest.mark.parametrize("name, index", _planted_04())
def test_notebook_04_planted_mistakes_get_their_hint(name, index):
    checker, _, mistakes = _checkers_04()[name]
    with pytest.raises(check.CheckFailed) as failure:
        checker(mistakes[index].wrong_implementation)
    assert mistakes[index].hint in str(failure.value)


def test_value_within_seconds_reads_the_last_evaluation_in_the_budget():
    steps, values = torch.tensor([250, 500, 750]), torch.tensor([0.2, 0.9, 0.8])
    assert value_within_seconds(steps, values, 80.0, 60.0).item() == pytest.approx(0.8)
    assert value_within_seconds(steps, values, 80.0, 50.0).item() == pytest.approx(0.9)
    assert value_within_seconds(steps, values, 80.0, 19.9).item() == 0.0


@pytest.mark.parametrize("size", [1, 2, 5, 9])
def test_causal_mask_is_torch_square_subsequent_mask_with_the_meaning_flipped(size):
    theirs = nn.Transformer.generate_square_subsequent_mask(size)  # 0 = allowed, -inf = blocked
    assert torch.equal(causal_mask(size), theirs == 0)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_the_assembled_translator_is_the_torch_stack_with_embeddings(norm_first):
    """TranslationTransformer, written out layer by layer, computes what TransformerStack (equal to
    nn.Transformer) computes on the embedded inputs, with the same weights."""
    torch.manual_seed(0)
    model = TranslationTransformer(
        9, 11, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0, norm_first=norm_first
    ).eval()
    stack = TransformerStack(16, 2, 2, 2, 32, norm_first=norm_first).eval()
    stack.load_state_dict(
        {
            key: value
            for key, value in model.state_dict().items()
            if "embedding" not in key and not key.startswith("output")
        }
    )
    source, lengths = torch.tensor([[4, 5, 6, 7], [8, 5, 0, 0]]), torch.tensor([4, 2])
    target = torch.tensor([[1, 4, 5], [1, 6, 0]])
    mask = padding_mask(lengths, 4)
    expected = model.output(
        stack(
            model._embed(model.source_embedding, source),
            model._embed(model.target_embedding, target),
            mask,
            causal_mask(3),
            mask,
        )
    )
    torch.testing.assert_close(model(source, lengths, target), expected, atol=ATOL, rtol=ATOL)


def test_attention_maps_returns_every_layer_and_head_with_masks_respected():
    torch.manual_seed(0)
    model = reference.TranslationTransformer(
        20, 20, d_model=16, num_heads=2, num_layers=2, d_ff=32, fast=True
    ).eval()
    source = torch.randint(4, 20, (2, 6))
    target = torch.randint(4, 20, (2, 5))
    maps = reference.attention_maps(model, source, torch.tensor([4, 6]), target)
    assert maps["encoder self-attention"].shape == (2, 2, 6, 6)
    assert maps["decoder self-attention"].shape == (2, 2, 5, 5)
    assert maps["cross-attention"].shape == (2, 2, 5, 6)
    for weights in maps.values():
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert maps["cross-attention"][..., 4:].abs().max() == 0  # the first sentence has 4 tokens
    assert maps["decoder self-attention"].triu(diagonal=1).abs().max() == 0  # causal
    assert all(module.fast for module in model.modules() if hasattr(module, "fast"))
