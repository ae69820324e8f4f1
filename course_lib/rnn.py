"""Recurrent networks (notebook 01): RNN, GRU and LSTM cells written out, and a GRU encoder-decoder.

The cell functions use PyTorch's parameter layout, so `torch.nn.RNNCell`, `GRUCell` and `LSTMCell`
weights can be copied in and the results compared (tests/test_rnn.py does). The modules loop over
time in Python: the readable path. The encoder-decoder trains with `torch.nn.GRU`, the fast path
that computes the same thing in C++.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def rnn_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of a vanilla (Elman) RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Shapes: x (batch, input_size), h (batch, hidden_size), weight_ih (hidden_size, input_size),
    weight_hh (hidden_size, hidden_size), biases (hidden_size,) -> h' (batch, hidden_size).
    """
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


def gru_cell_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of a GRU, with PyTorch's equations and gate order (reset r, update z, new n):

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    Shapes: weight_ih (3 * hidden_size, input_size), weight_hh (3 * hidden_size, hidden_size),
    biases (3 * hidden_size,); x (batch, input_size), h (batch, hidden_size) -> h'.
    """
    input_r, input_z, input_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    hidden_r, hidden_z, hidden_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    reset = torch.sigmoid(input_r + hidden_r)
    update = torch.sigmoid(input_z + hidden_z)
    candidate = torch.tanh(input_n + reset * hidden_n)
    return (1 - update) * candidate + update * h


def lstm_cell_step(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of an LSTM, PyTorch's gate order (input i, forget f, cell g, output o):

        i, f, o = sigmoid(...), g = tanh(...), c' = f * c + i * g, h' = o * tanh(c')

    Shapes: weight_ih (4 * hidden_size, input_size), weight_hh (4 * hidden_size, hidden_size);
    state = (h, c), each (batch, hidden_size) -> (h', c').
    """
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    input_gate, forget_gate, cell_input, output_gate = gates.chunk(4, dim=-1)
    c = torch.sigmoid(forget_gate) * c + torch.sigmoid(input_gate) * torch.tanh(cell_input)
    h = torch.sigmoid(output_gate) * torch.tanh(c)
    return h, c


class _Cell(nn.Module):
    """Parameters laid out as in torch.nn.RNNCell/GRUCell/LSTMCell (`gates` blocks of rows)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(self.gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(self.gates * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(self.gates * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(self.gates * hidden_size))
        bound = 1 / math.sqrt(hidden_size)  # PyTorch's default initialisation
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def initial_state(self, batch_size: int, device=None):
        return torch.zeros(batch_size, self.hidden_size, device=device)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(_Cell):
    """Vanilla RNN cell: forward(x (batch, input_size), h (batch, hidden_size)) -> h'."""

    def forward(self, x, h):
        return rnn_cell_step(x, h, *self._weights())


class GRUCell(_Cell):
    """GRU cell: forward(x (batch, input_size), h (batch, hidden_size)) -> h'."""

    gates = 3

    def forward(self, x, h):
        return gru_cell_step(x, h, *self._weights())


class LSTMCell(_Cell):
    """LSTM cell: forward(x (batch, input_size), (h, c)) -> (h', c'), each (batch, hidden)."""

    gates = 4

    def initial_state(self, batch_size: int, device=None):
        zeros = torch.zeros(batch_size, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(self, x, state):
        return lstm_cell_step(x, state, *self._weights())


def run_over_time(cell: _Cell, inputs: torch.Tensor, state=None):
    """Apply `cell` to each time step in turn: the recurrence, written out.

    Shapes: inputs (batch, seq_len, input_size) -> outputs (batch, seq_len, hidden_size) and the
    final state (h, or (h, c) for an LSTM). There are seq_len sequential steps: step t cannot
    start before step t - 1 has finished.
    """
    if inputs.dim() != 3 or inputs.shape[-1] != cell.input_size:
        raise ValueError(
            f"inputs must have shape (batch, seq_len, {cell.input_size}), got {tuple(inputs.shape)}"
        )
    if state is None:
        state = cell.initial_state(inputs.shape[0], inputs.device)
    outputs = []
    for t in range(inputs.shape[1]):
        state = cell(inputs[:, t], state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outputs, dim=1), state


def gradient_norms_by_distance(
    cell: _Cell, seq_len: int = 60, batch_size: int = 16, seed: int = 0
) -> torch.Tensor:
    """How much the last hidden state depends on the input k steps back, for k = 0..seq_len-1.

    Runs `cell` over random inputs, takes the sum of the final hidden state as a stand-in loss,
    and returns the mean norm of d(loss)/d(input at step seq_len - 1 - k), shape (seq_len,).
    A vanilla RNN's norms shrink exponentially with k: the vanishing gradient.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, seq_len, cell.input_size, generator=generator)
    inputs.requires_grad_(True)
    outputs, _ = run_over_time(cell, inputs)
    outputs[:, -1].sum().backward()
    norms = inputs.grad.norm(dim=-1).mean(dim=0)  # (seq_len,)
    return norms.flip(0)  # index k = distance from the end


class Seq2SeqGRU(nn.Module):
    """A GRU encoder-decoder WITHOUT attention (Sutskever et al. 2014, Cho et al. 2014).

    The encoder reads the source and keeps only its final hidden state (batch, hidden_size): the
    whole sentence in one vector. The decoder starts from that vector and predicts the target one
    token at a time.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        pad_id: int = 0,
    ):
        super().__init__()
        self.source_embedding = nn.Embedding(source_vocab_size, embedding_dim, padding_idx=pad_id)
        self.target_embedding = nn.Embedding(target_vocab_size, embedding_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.decoder = nn.GRU(embedding_dim, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, target_vocab_size)

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor):
        """source (batch, source_len) -> outputs (batch, source_len, hidden) and final state
        (1, batch, hidden).

        Packing skips the padding, so `final` is the state after each sentence's last real token.
        """
        packed = pack_padded_sequence(
            self.source_embedding(source),
            source_lengths.cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        outputs, final = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        return outputs, final

    def forward(self, source, source_lengths, target_input):
        """Teacher forcing: logits (batch, target_len, target_vocab) for every target position."""
        _, final = self.encode(source, source_lengths)
        decoded, _ = self.decoder(self.target_embedding(target_input), final)
        return self.output(decoded)

    @torch.no_grad()
    def greedy_decode(self, source, source_lengths, max_len: int, bos_id: int, eos_id: int):
        """Predict up to `max_len` tokens, feeding back the most likely one: (batch, <= max_len)."""
        _, state = self.encode(source, source_lengths)
        token = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        predicted, finished = (
            [],
            torch.zeros(source.shape[0], dtype=torch.bool, device=source.device),
        )
        for _ in range(max_len):
            decoded, state = self.decoder(self.target_embedding(token), state)
            token = self.output(decoded).argmax(dim=-1)  # (batch, 1)
            predicted.append(token)
            finished |= token.squeeze(1) == eos_id
            if finished.all():
                break
        return torch.cat(predicted, dim=1)
