"""Parity of the course's RNN, GRU and LSTM with torch.nn (weights copied; atol 1e-5)."""

import pytest
import torch
from torch import nn

from course_lib.rnn import (
    GRUCell,
    LSTMCell,
    RNNCell,
    Seq2SeqGRU,
    gradient_norms_by_distance,
    run_over_time,
)

PAIRS = [(RNNCell, nn.RNNCell), (GRUCell, nn.GRUCell), (LSTMCell, nn.LSTMCell)]


@pytest.mark.parametrize("course_cls, torch_cls", PAIRS)
def test_cells_match_torch_with_copied_weights(course_cls, torch_cls):
    torch.manual_seed(0)
    theirs = torch_cls(6, 5)
    ours = course_cls(6, 5)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 6)
    if course_cls is LSTMCell:
        state = (torch.randn(3, 5), torch.randn(3, 5))
        for a, b in zip(ours(x, state), theirs(x, state), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    else:
        h = torch.randn(3, 5)
        torch.testing.assert_close(ours(x, h), theirs(x, h), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "course_cls, torch_cls", [(RNNCell, nn.RNN), (GRUCell, nn.GRU), (LSTMCell, nn.LSTM)]
)
def test_running_over_time_matches_the_torch_layer(course_cls, torch_cls):
    torch.manual_seed(1)
    layer = torch_cls(4, 7, batch_first=True)
    cell = course_cls(4, 7)
    cell.load_state_dict(
        {name.removesuffix("_l0"): value for name, value in layer.state_dict().items()}
    )
    inputs = torch.randn(2, 9, 4)
    ours, _ = run_over_time(cell, inputs)
    theirs, _ = layer(inputs)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_run_over_time_explains_bad_shapes():
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, seq_len, 4\)"):
        run_over_time(RNNCell(4, 3), torch.randn(2, 5))


def test_gradients_vanish_faster_in_a_vanilla_rnn_than_in_an_lstm():
    torch.manual_seed(0)
    rnn_norms = gradient_norms_by_distance(RNNCell(16, 32), seq_len=40)
    lstm = LSTMCell(16, 32)
    with torch.no_grad():
        lstm.bias_ih[32:64] = 1.0  # forget-gate bias of 1, the usual LSTM initialisation
    lstm_norms = gradient_norms_by_distance(lstm, seq_len=40)
    assert rnn_norms.shape == (40,)
    assert rnn_norms[30] / rnn_norms[0] < 1e-3  # vanished
    assert lstm_norms[30] / lstm_norms[0] > 10 * rnn_norms[30] / rnn_norms[0]


def test_encoder_final_state_ignores_padding():
    torch.manual_seed(0)
    model = Seq2SeqGRU(10, 12, embedding_dim=8, hidden_size=16)
    source = torch.tensor([[4, 5, 6, 0, 0]])
    _, padded = model.encode(source, torch.tensor([3]))
    _, unpadded = model.encode(source[:, :3], torch.tensor([3]))
    torch.testing.assert_close(padded, unpadded)


def test_greedy_decoding_matches_teacher_forced_argmax():
    torch.manual_seed(0)
    model = Seq2SeqGRU(10, 12, embedding_dim=8, hidden_size=16).eval()
    source, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    decoded = model.greedy_decode(source, lengths, max_len=6, bos_id=1, eos_id=2)
    # Feeding the decoded tokens back with teacher forcing must reproduce the same argmaxes.
    target_input = torch.cat([torch.ones(2, 1, dtype=torch.long), decoded[:, :-1]], dim=1)
    logits = model(source, lengths, target_input)
    assert torch.equal(logits.argmax(dim=-1), decoded)
