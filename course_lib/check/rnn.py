"""Checks for notebook 01 (RNN baselines): one RNN step, one GRU step, one LSTM step, and the
GRU encoder-decoder the learner builds (checked against `Seq2SeqGRU` with copied weights)."""

from __future__ import annotations

import torch

from .. import rnn as reference
from .framework import (
    Built,
    Case,
    Mistake,
    ignored_arguments,
    passed,
    recognises,
    require_function,
    run_cases,
    run_module_cases,
    swapped_arguments,
    swapped_submodules,
    transposed_arguments,
)

ATOL, RTOL = 1e-5, 1e-5
SIGNATURE = "{name}(x, h, weight_ih, weight_hh, bias_ih, bias_hh)"


def _cases(gates: int, seed: int, n_random: int) -> list[Case]:
    """(batch, input, hidden) shapes: non-square ones catch missing transposes with an error,
    square ones (input == hidden) let swapped or untransposed weights run, so we can name them."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(2, 6, 6), (4, 5, 5), (3, 4, 5), (1, 3, 2)]  # square first: see above
    for _ in range(n_random):
        batch, inputs, hidden = (int(v) for v in torch.randint(1, 7, (3,), generator=generator))
        shapes.append((batch, inputs, hidden))
    cases = []
    for batch, inputs, hidden in shapes:

        def tensor(*shape):
            return torch.randn(*shape, generator=generator)

        args = (
            tensor(batch, inputs),
            tensor(batch, hidden),
            tensor(gates * hidden, inputs),
            tensor(gates * hidden, hidden),
            tensor(gates * hidden),
            tensor(gates * hidden),
        )
        label = f"x {tuple(args[0].shape)}, h {tuple(args[1].shape)}, hidden_size={hidden}"
        cases.append(Case(args, label=label))
    return cases


RNN_MISTAKES = [
    Mistake(
        "wrong nonlinearity: a vanilla RNN squashes with tanh, not sigmoid",
        lambda x, h, wi, wh, bi, bh: torch.sigmoid(x @ wi.T + bi + h @ wh.T + bh),
    ),
    Mistake(
        "wrong nonlinearity: a vanilla RNN squashes with tanh, not ReLU",
        lambda x, h, wi, wh, bi, bh: torch.relu(x @ wi.T + bi + h @ wh.T + bh),
    ),
    Mistake(
        "the tanh is missing: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)",
        lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh,
    ),
    Mistake(
        "the weights are not transposed: PyTorch stores them as (hidden, input), so use "
        "x @ weight_ih.T and h @ weight_hh.T",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi + bi + h @ wh + bh),
    ),
    Mistake(
        "weight_ih goes with the input x and weight_hh with the previous state h; you swapped them",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wh.T + bi + h @ wi.T + bh),
    ),
    Mistake(
        "the previous state is ignored: add h @ weight_hh.T + bias_hh",
        lambda x, h, wi, wh, bi, bh: torch.tanh(x @ wi.T + bi),
    ),
    Mistake(
        "the input x is ignored: add x @ weight_ih.T + bias_ih",
        lambda x, h, wi, wh, bi, bh: torch.tanh(h @ wh.T + bh),
    ),
    *transposed_arguments(reference.rnn_cell_step, "weight_ih", "weight_hh"),
    *ignored_arguments(reference.rnn_cell_step, "bias_ih", "bias_hh"),
]


def _check_cell(name: str, learner_fn, gates: int, mistakes, seed: int, n_random: int) -> None:
    fn = require_function(learner_fn, name)
    cases = _cases(gates, seed, n_random)
    run_cases(
        name,
        fn,
        getattr(reference, name),
        cases,
        signature=SIGNATURE.format(name=name),
        mistakes=mistakes,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(name, f"matches the reference on {len(cases)} cases (atol={ATOL:g})")


@recognises(RNN_MISTAKES)
def rnn_cell_step(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `rnn_cell_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)` (vanilla RNN step)."""
    _check_cell("rnn_cell_step", learner_fn, 1, RNN_MISTAKES, seed, n_random)


def _gru(
    x,
    h,
    wi,
    wh,
    bi,
    bh,
    *,
    order=(0, 1, 2),
    gate=torch.sigmoid,
    candidate=torch.tanh,
    reset_style="after",
    swap_update=False,
):
    """A GRU step with one knob turned: the catalogue of likely mistakes below."""
    input_parts = (x @ wi.T + bi).chunk(3, dim=-1)
    hidden_parts = (h @ wh.T + bh).chunk(3, dim=-1)
    ir, iz, i_n = (input_parts[i] for i in order)
    hr, hz, h_n = (hidden_parts[i] for i in order)
    reset, update = gate(ir + hr), gate(iz + hz)
    if reset_style == "after":
        new = candidate(i_n + reset * h_n)
    elif reset_style == "before":  # Cho et al.'s original: reset the state, then multiply
        hidden_size = h.shape[-1]
        w_hn, b_hn = wh[2 * hidden_size :], bh[2 * hidden_size :]
        new = candidate(i_n + (reset * h) @ w_hn.T + b_hn)
    elif reset_style == "whole":
        new = candidate(reset * (i_n + h_n))
    elif reset_style == "bias outside":
        hidden_size = h.shape[-1]
        new = candidate(i_n + reset * (h_n - bh[2 * hidden_size :]) + bh[2 * hidden_size :])
    else:  # "unused"
        new = candidate(i_n + h_n)
    if swap_update:
        return update * new + (1 - update) * h
    return (1 - update) * new + update * h


GRU_MISTAKES = [
    Mistake(
        "wrong nonlinearity: the reset and update gates use sigmoid (values in 0..1); only "
        "the candidate n uses tanh",
        lambda *a: _gru(*a, gate=torch.tanh),
    ),
    Mistake(
        "wrong nonlinearity: the candidate state n uses tanh, not sigmoid",
        lambda *a: _gru(*a, candidate=torch.sigmoid),
    ),
    Mistake(
        "z and 1 - z are swapped: in PyTorch's convention h' = (1 - z) * n + z * h (z "
        "keeps the old state)",
        lambda *a: _gru(*a, swap_update=True),
    ),
    Mistake(
        "the gates are taken in the wrong order: PyTorch stacks them as reset, update, new "
        "(r, z, n)",
        lambda *a: _gru(*a, order=(1, 0, 2)),
    ),
    Mistake(
        "the reset gate is applied before the matrix product ((r * h) @ W_hn.T, as in Cho et "
        "al.'s paper); PyTorch applies it after: r * (h @ W_hn.T + b_hn)",
        lambda *a: _gru(*a, reset_style="before"),
    ),
    Mistake(
        "the reset gate should scale only the hidden part of the candidate: "
        "n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))",
        lambda *a: _gru(*a, reset_style="whole"),
    ),
    Mistake(
        "b_hn belongs inside the reset product: r * (h @ W_hn.T + b_hn)",
        lambda *a: _gru(*a, reset_style="bias outside"),
    ),
    Mistake(
        "the reset gate is never used in the candidate n", lambda *a: _gru(*a, reset_style="unused")
    ),
    *swapped_arguments(reference.gru_cell_step, ("weight_ih", "weight_hh")),
    *ignored_arguments(reference.gru_cell_step, "bias_ih", "bias_hh"),
]


@recognises(GRU_MISTAKES)
def gru_cell_step(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `gru_cell_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)` against nn.GRUCell's
    equations."""
    _check_cell("gru_cell_step", learner_fn, 3, GRU_MISTAKES, seed, n_random)


# --- the LSTM step ------------------------------------------------------------------------------


def _lstm(
    x,
    state,
    wi,
    wh,
    bi,
    bh,
    *,
    order=(0, 1, 2, 3),
    cell=torch.tanh,
    forget=True,
    squash=True,
    new_cell=True,
    output_gate_used=True,
    state_order="h, c",
    return_order="h, c",
):
    """An LSTM step with one knob turned: the catalogue of likely mistakes below."""
    h, c = state if state_order == "h, c" else reversed(state)
    parts = (x @ wi.T + bi + h @ wh.T + bh).chunk(4, dim=-1)
    input_gate, forget_gate, cell_input, output_gate = (parts[i] for i in order)
    kept = torch.sigmoid(forget_gate) * c if forget else c
    c_new = kept + torch.sigmoid(input_gate) * cell(cell_input)
    shown = c_new if new_cell else c
    shown = torch.tanh(shown) if squash else shown
    h_new = torch.sigmoid(output_gate) * shown if output_gate_used else shown
    return (h_new, c_new) if return_order == "h, c" else (c_new, h_new)


LSTM_MISTAKES = [
    Mistake(
        "the gates are taken in the wrong order: PyTorch stacks them as input, forget, cell, "
        "output (i, f, g, o)",
        lambda *a: _lstm(*a, order=(0, 1, 3, 2)),
    ),
    Mistake(
        "the input and forget gates are swapped: the first block is i, the second f",
        lambda *a: _lstm(*a, order=(1, 0, 2, 3)),
    ),
    Mistake(
        "the cell input g uses tanh (values from -1 to 1); only i, f and o are sigmoid gates",
        lambda *a: _lstm(*a, cell=torch.sigmoid),
    ),
    Mistake(
        "the forget gate is never used: c' = f * c + i * g, not c + i * g",
        lambda *a: _lstm(*a, forget=False),
    ),
    Mistake(
        "h' = o * tanh(c'): the tanh on the new cell state is missing",
        lambda *a: _lstm(*a, squash=False),
    ),
    Mistake(
        "h' is computed from the old cell state: use the new one, h' = o * tanh(c')",
        lambda *a: _lstm(*a, new_cell=False),
    ),
    Mistake(
        "the output gate is never used: h' = o * tanh(c'), not tanh(c')",
        lambda *a: _lstm(*a, output_gate_used=False),
    ),
    Mistake(
        "the state is (h, c), the hidden state first: unpack it as h, c = state",
        lambda *a: _lstm(*a, state_order="c, h"),
    ),
    Mistake("return (h', c'), in that order", lambda *a: _lstm(*a, return_order="c, h")),
    *swapped_arguments(reference.lstm_cell_step, ("weight_ih", "weight_hh")),
    *ignored_arguments(reference.lstm_cell_step, "bias_ih", "bias_hh"),
]


def _lstm_cases(seed: int, n_random: int) -> list[Case]:
    cases = []
    for case in _cases(4, seed, n_random):
        x, h, wi, wh, bi, bh = case.args
        generator = torch.Generator().manual_seed(seed + len(cases))
        c = torch.randn(h.shape, generator=generator)
        cases.append(Case((x, (h, c), wi, wh, bi, bh), label=case.label))
    return cases


@recognises(LSTM_MISTAKES)
def lstm_cell_step(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `lstm_cell_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh)` -> (h', c')
    against nn.LSTMCell's equations."""
    fn = require_function(learner_fn, "lstm_cell_step")
    cases = _lstm_cases(seed, n_random)
    run_cases(
        "lstm_cell_step",
        fn,
        reference.lstm_cell_step,
        cases,
        signature="lstm_cell_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh)",
        mistakes=LSTM_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
        output_names=("h", "c"),
    )
    passed("lstm_cell_step", f"h and c match the reference on {len(cases)} cases (atol={ATOL:g})")


# --- the encoder-decoder ------------------------------------------------------------------------

ENCODER_DECODER_SIGNATURE = (
    "EncoderDecoder(source_vocab_size, target_vocab_size, embedding_dim, hidden_size, pad_id), "
    "with forward(source, source_lengths, target_input) and greedy_decode(source, "
    "source_lengths, max_len, bos_id, eos_id)"
)


class _ReadsThePadding(reference.Seq2SeqGRU):
    def encode(self, source, source_lengths):
        return self.encoder(self.source_embedding(source))


class _LastOutputAsState(reference.Seq2SeqGRU):
    def encode(self, source, source_lengths):
        outputs, _ = super().encode(source, source_lengths)
        return outputs, outputs[:, -1][None].contiguous()  # padding for the shorter sentences


class _DecoderFromZeros(reference.Seq2SeqGRU):
    def forward(self, source, source_lengths, target_input):
        decoded, _ = self.decoder(self.target_embedding(target_input))
        return self.output(decoded)


class _SourceEmbeddingForTargets(reference.Seq2SeqGRU):
    def forward(self, source, source_lengths, target_input):
        _, final = self.encode(source, source_lengths)
        decoded, _ = self.decoder(self.source_embedding(target_input), final)
        return self.output(decoded)


class _Probabilities(reference.Seq2SeqGRU):
    def forward(self, source, source_lengths, target_input):
        return super().forward(source, source_lengths, target_input).softmax(dim=-1)


class _BosKept(reference.Seq2SeqGRU):
    @torch.no_grad()
    def greedy_decode(self, source, source_lengths, max_len, bos_id, eos_id):
        predicted = super().greedy_decode(source, source_lengths, max_len, bos_id, eos_id)
        start = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        return torch.cat([start, predicted], dim=1)


class _NoFeedback(reference.Seq2SeqGRU):
    @torch.no_grad()
    def greedy_decode(self, source, source_lengths, max_len, bos_id, eos_id):
        _, state = self.encode(source, source_lengths)
        start = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        predicted = []
        for _ in range(max_len):
            decoded, state = self.decoder(self.target_embedding(start), state)
            predicted.append(self.output(decoded).argmax(dim=-1))
        return torch.cat(predicted, dim=1)


class _StateNotCarried(reference.Seq2SeqGRU):
    @torch.no_grad()
    def greedy_decode(self, source, source_lengths, max_len, bos_id, eos_id):
        _, final = self.encode(source, source_lengths)
        token = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        predicted = []
        for _ in range(max_len):
            decoded, _ = self.decoder(self.target_embedding(token), final)
            token = self.output(decoded).argmax(dim=-1)
            predicted.append(token)
        return torch.cat(predicted, dim=1)


ENCODER_DECODER_MISTAKES = [
    Mistake(
        "the encoder reads the padding too, so its final state comes after the <pad> tokens of "
        "the shorter sentences: pack the batch (pack_padded_sequence with the source lengths, "
        "enforce_sorted=False) before the encoder GRU",
        _ReadsThePadding,
    ),
    Mistake(
        "outputs[:, -1] is not the sentence vector: for a short sentence the last position is "
        "padding (all zeros after pad_packed_sequence). Use the final state the GRU returns",
        _LastOutputAsState,
    ),
    Mistake(
        "the decoder starts from zeros: pass the encoder's final state as the decoder GRU's "
        "initial state, self.decoder(embedded_targets, final), or nothing of the source reaches it",
        _DecoderFromZeros,
    ),
    Mistake(
        "the French tokens go through the English embedding: embed target_input with "
        "self.target_embedding",
        _SourceEmbeddingForTargets,
    ),
    Mistake(
        "greedy decoding must feed each predicted token back as the next input; yours feeds "
        "<bos> at every step",
        _NoFeedback,
    ),
    Mistake(
        "greedy decoding must carry the decoder's state from step to step; yours restarts from "
        "the encoder's final state every time",
        _StateNotCarried,
    ),
    Mistake(
        "forward must return logits (the output layer's values), not probabilities: the loss "
        "(cross-entropy) applies log_softmax itself",
        _Probabilities,
    ),
    Mistake(
        "greedy decoding returns the predicted tokens only, without the <bos> it started from",
        _BosKept,
    ),
    *swapped_submodules(reference.Seq2SeqGRU, ("encoder", "decoder")),
]


def _padded_batch(generator, lengths: list[int], vocab: int, first: int | None = None):
    batch = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):
        batch[row, :length] = torch.randint(4, vocab, (length,), generator=generator)
        if first is not None:
            batch[row, 0] = first
    return batch


def _encoder_decoder_cases(seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for source_vocab, target_vocab, embedding, hidden, lengths, target_lengths in [
            (12, 10, 6, 8, [5, 3, 1], [4, 2, 3]),
            (9, 9, 4, 5, [2, 6], [5, 5]),
            (15, 11, 8, 16, [7, 7, 4, 2], [1, 6, 3, 2]),
        ]:
            model = reference.Seq2SeqGRU(source_vocab, target_vocab, embedding, hidden).eval()
            source = _padded_batch(generator, lengths, source_vocab)
            targets = _padded_batch(generator, target_lengths, target_vocab, first=1)
            kwargs = {"embedding_dim": embedding, "hidden_size": hidden, "pad_id": 0}
            sizes = (source_vocab, target_vocab)
            cases.append(
                Case((Built(model, sizes, kwargs), source, torch.tensor(lengths), targets))
            )
            decode = Built(model, sizes, kwargs, method="greedy_decode")
            cases.append(Case((decode, source, torch.tensor(lengths), 6, 1, 2)))
    return cases


@recognises(ENCODER_DECODER_MISTAKES)
def encoder_decoder(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `EncoderDecoder` class: built with the same sizes as `Seq2SeqGRU`,
    given its weights, it must compute the same logits with teacher forcing and decode the same
    tokens greedily."""
    cases = _encoder_decoder_cases(seed)
    run_module_cases(
        "EncoderDecoder",
        learner_class,
        cases,
        signature=ENCODER_DECODER_SIGNATURE,
        mistakes=ENCODER_DECODER_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(
        "EncoderDecoder",
        f"with Seq2SeqGRU's weights, the same logits and the same greedy translations on "
        f"{len(cases)} cases (atol={ATOL:g})",
    )
