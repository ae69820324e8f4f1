"""Checkers of notebooks 01 and 02: the reference passes, and every planted mistake is named."""

import pytest
import torch

from course_lib import attention, check, rnn
from course_lib.check.attention import (
    ATTENTION_MISTAKES,
    CAUSAL_MISTAKES,
    PADDING_MISTAKES,
    STEP_MISTAKES,
    TRANSLATE_MISTAKES,
)
from course_lib.check.rnn import (
    ENCODER_DECODER_MISTAKES,
    GRU_MISTAKES,
    LSTM_MISTAKES,
    RNN_MISTAKES,
)

CHECKERS = {
    "rnn_cell_step": (check.rnn_cell_step, rnn.rnn_cell_step, RNN_MISTAKES),
    "gru_cell_step": (check.gru_cell_step, rnn.gru_cell_step, GRU_MISTAKES),
    "lstm_cell_step": (check.lstm_cell_step, rnn.lstm_cell_step, LSTM_MISTAKES),
    "EncoderDecoder": (check.encoder_decoder, rnn.Seq2SeqGRU, ENCODER_DECODER_MISTAKES),
    "scaled_dot_product_attention": (
        check.scaled_dot_product_attention,
        attention.scaled_dot_product_attention,
        ATTENTION_MISTAKES,
    ),
    "padding_mask": (check.padding_mask, attention.padding_mask, PADDING_MISTAKES),
    "causal_mask": (check.causal_mask, attention.causal_mask, CAUSAL_MISTAKES),
    "attention_decoder_step": (
        check.attention_decoder_step,
        lambda model, *args: model.decoder_step(*args),
        STEP_MISTAKES,
    ),
    "translate": (
        check.translate,
        lambda model, *args: model.greedy_decode(*args, return_attention=True),
        TRANSLATE_MISTAKES,
    ),
}
PLANTED = [(name, mistake) for name, (_, _, mistakes) in CHECKERS.items() for mistake in mistakes]


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_passes_with_one_line(name, capsys):
    checker, reference, _ = CHECKERS[name]
    checker(reference)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"✅ {name}")


@pytest.mark.parametrize(
    "name, mistake", PLANTED, ids=[f"{name}: {m.hint[:40]}" for name, m in PLANTED]
)
def test_each_planted_mistake_gets_its_hint(name, mistake):
    checker = CHECKERS[name][0]
    with pytest.raises(check.CheckFailed) as failure:
        checker(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_hidden_cases_with_another_seed_also_pass():
    check.scaled_dot_product_attention(attention.scaled_dot_product_attention, seed=7, n_random=40)
    check.gru_cell_step(rnn.gru_cell_step, seed=7, n_random=30)


def test_torch_implementations_pass_too():
    def torch_attention(queries, keys, values, mask=None):
        output = torch.nn.functional.scaled_dot_product_attention(
            queries, keys, values, attn_mask=mask
        )
        return output, attention.scaled_dot_product_attention(queries, keys, values, mask)[1]

    check.scaled_dot_product_attention(torch_attention)
    check.causal_mask(lambda size: torch.ones(size, size).tril().bool())


@pytest.mark.parametrize(
    "name, wrong, hint",
    [
        (
            "scaled_dot_product_attention",
            lambda q, k, v, mask=None: attention.scaled_dot_product_attention(q, k, v, mask)[0],
            "should return a tuple",
        ),
        ("padding_mask", lambda lens, n: attention.padding_mask(lens, n).int(), "boolean"),
        ("causal_mask", lambda size: torch.ones(size, size).tril(), "boolean"),
        (
            "rnn_cell_step",
            lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi + h @ wh.T + bh).detach(),
            "autograd",
        ),
        ("gru_cell_step", lambda x, h, wi, wh, bi, bh: h, "is wrong"),
    ],
)
def test_other_mistakes_fail_with_a_useful_message(name, wrong, hint):
    with pytest.raises(check.CheckFailed, match=hint):
        CHECKERS[name][0](wrong)


class _Unwritten(torch.nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()


class _OtherNames(rnn.Seq2SeqGRU):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.projection = self.output
        del self.output


@pytest.mark.parametrize(
    "learner, hint",
    [
        (_Unwritten, "not implemented yet"),
        (_OtherNames, "missing ['output.bias', 'output.weight'], unexpected"),
        (rnn.Seq2SeqGRU(5, 5), "expects your class itself"),
    ],
)
def test_encoder_decoder_check_explains_classes_it_cannot_compare(learner, hint):
    with pytest.raises(check.CheckFailed, match=hint.replace("[", "\\[")):
        check.encoder_decoder(learner)


def test_the_lstm_reference_matches_torch():
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(5, 7)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    ours = rnn.lstm_cell_step(x, (h, c), *(p.detach() for p in theirs.parameters()))
    for a, b in zip(ours, theirs(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
