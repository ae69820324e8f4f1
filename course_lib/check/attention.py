"""Checks for notebook 02 (attention): scaled dot-product attention, padding and causal masks, and
the translator's decoder step with attention and its greedy loop (checked against
`AttentionSeq2SeqGRU` itself)."""

from __future__ import annotations

import math

import torch

from .. import attention as reference
from .framework import Case, Mistake, passed, recognises, require_function, run_cases

ATOL, RTOL = 1e-5, 1e-5
NEG_INF = float("-inf")


def _attention_cases(seed: int, n_random: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    def case(q, k, v, mask=None, label=""):
        kwargs = {} if mask is None else {"mask": mask}
        shapes = f"queries {tuple(q.shape)}, keys {tuple(k.shape)}, values {tuple(v.shape)}"
        if mask is not None:
            shapes += f", mask {tuple(mask.shape)}"
        return Case((q, k, v), kwargs, label=f"{label}{shapes}")

    lengths = torch.tensor([3, 5])
    # Square cases first: with d_k = num_keys or a square mask, a transposing mistake runs
    # without an error, so the checker can name it.
    cases = [
        case(randn(2, 4, 4), randn(2, 4, 4), randn(2, 4, 3), label="d_k = number of keys: "),
        case(
            randn(1, 2, 4, 4),
            randn(1, 2, 4, 4),
            randn(1, 2, 4, 5),
            reference.causal_mask(4),
            label="causal mask, 2 heads: ",
        ),
        case(randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 6), label="no mask: "),
        case(
            randn(2, 3, 8),
            randn(2, 5, 8),
            randn(2, 5, 2),
            reference.padding_mask(lengths, 5),
            label="padding mask: ",
        ),
        case(randn(2, 2, 16) * 3, randn(2, 6, 16) * 3, randn(2, 6, 3), label="d_k = 16: "),
    ]
    for _ in range(n_random):
        batch, queries, keys, d_k, d_v = (
            int(v) for v in torch.randint(1, 7, (5,), generator=generator)
        )
        mask = None
        if int(torch.randint(0, 2, (1,), generator=generator)):
            valid = torch.randint(1, keys + 1, (batch,), generator=generator)
            mask = reference.padding_mask(valid, keys)
        cases.append(
            case(randn(batch, queries, d_k), randn(batch, keys, d_k), randn(batch, keys, d_v), mask)
        )
    return cases


def _attention(
    queries,
    keys,
    values,
    mask=None,
    *,
    scale="sqrt",
    softmax_dim=-1,
    transpose_keys=True,
    mask_style="correct",
    output_from="values",
    order="ow",
    second="weights",
):
    """Scaled dot-product attention with one knob turned: the catalogue of mistakes below."""
    d_k = queries.shape[-1]
    scores = queries @ (keys.transpose(-2, -1) if transpose_keys else keys)
    scores = {
        "sqrt": scores / math.sqrt(d_k),
        "none": scores,
        "d_k": scores / d_k,
        "times": scores * math.sqrt(d_k),
    }[scale]
    if mask is not None:
        if mask_style == "correct":
            scores = scores.masked_fill(~mask, NEG_INF)
        elif mask_style == "inverted":
            scores = scores.masked_fill(mask, NEG_INF)
        elif mask_style == "transposed":
            scores = scores.masked_fill(~mask.transpose(-2, -1), NEG_INF)
        elif mask_style == "zero":
            scores = scores.masked_fill(~mask, 0.0)
    weights = torch.softmax(scores, dim=softmax_dim)
    if mask is not None and mask_style == "after softmax":
        weights = weights * mask
    output = weights @ (values if output_from == "values" else keys)
    extra = weights if second == "weights" else scores
    return (output, extra) if order == "ow" else (extra, output)


def _attention_mistake(hint, **knobs):
    return Mistake(hint, lambda q, k, v, mask=None: _attention(q, k, v, mask, **knobs))


ATTENTION_MISTAKES = [
    _attention_mistake("the scores are not scaled: divide Q K^T by sqrt(d_k)", scale="none"),
    _attention_mistake("scale by 1/sqrt(d_k), not 1/d_k", scale="d_k"),
    _attention_mistake("divide the scores by sqrt(d_k); you multiplied", scale="times"),
    _attention_mistake(
        "softmax over the wrong dimension: each query's weights must sum to 1 "
        "over the keys (dim=-1)",
        softmax_dim=-2,
    ),
    _attention_mistake(
        "the keys are not transposed: scores = queries @ keys.transpose(-2, -1)",
        transpose_keys=False,
    ),
    _attention_mistake(
        "the mask is applied with the wrong sign: True means 'may attend', so "
        "fill the scores where the mask is False (~mask) with -inf",
        mask_style="inverted",
    ),
    _attention_mistake(
        "the mask is applied to the wrong axis: it lines up with the scores "
        "(..., num_queries, num_keys); don't transpose it",
        mask_style="transposed",
    ),
    _attention_mistake(
        "masked scores were set to 0, which still gets weight after the softmax: "
        "fill them with float('-inf')",
        mask_style="zero",
    ),
    _attention_mistake(
        "masked weights were zeroed after the softmax, so the others no longer "
        "sum to 1: mask the scores before the softmax",
        mask_style="after softmax",
    ),
    _attention_mistake(
        "the mask is ignored: fill the scores where mask is False with -inf", mask_style="ignored"
    ),
    _attention_mistake(
        "the output should be a weighted sum of the values, not of the keys", output_from="keys"
    ),
    _attention_mistake("return (output, weights), in that order", order="wo"),
    _attention_mistake("return the softmax weights, not the raw scores", second="scores"),
]


def _diagnose_attention(got, expected, case: Case) -> str | None:
    _, weights = got
    sums = weights.sum(dim=-1)
    mask = case.kwargs.get("mask")
    if mask is not None and (weights.masked_select(~mask.expand_as(weights)).abs() > 1e-6).any():
        return "masked keys still get some weight: fill their scores with -inf before the softmax"
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        return "each query's weights should sum to 1 over the keys"
    return None


@recognises(ATTENTION_MISTAKES)
def scaled_dot_product_attention(learner_fn, *, seed: int = 0, n_random: int = 15) -> None:
    """Check `scaled_dot_product_attention(queries, keys, values, mask=None)`, which returns
    (output, weights)."""
    fn = require_function(learner_fn, "scaled_dot_product_attention")
    cases = _attention_cases(seed, n_random)
    run_cases(
        "scaled_dot_product_attention",
        fn,
        reference.scaled_dot_product_attention,
        cases,
        signature="scaled_dot_product_attention(queries, keys, values, mask=None)",
        mistakes=ATTENTION_MISTAKES,
        diagnose=_diagnose_attention,
        atol=ATOL,
        rtol=RTOL,
        output_names=("output", "weights"),
    )
    passed(
        "scaled_dot_product_attention",
        f"output and weights match on {len(cases)} cases, with and without masks (atol={ATOL:g})",
    )


MASK_ADVICE = "return a boolean tensor (True = may attend), e.g. from a comparison such as <"

# An additive float mask (0 where allowed, -inf where blocked) reads as the inverted boolean mask
# once converted to bool: it comes first, so that it is named for what it is.
PADDING_MISTAKES = [
    Mistake(
        "this is an additive float mask (0 and -inf); this course's masks are boolean: "
        + MASK_ADVICE,
        lambda lens, n: torch.zeros(len(lens), 1, n).masked_fill(
            ~reference.padding_mask(lens, n), NEG_INF
        ),
    ),
    Mistake(
        "the mask is inverted: True must mark the real tokens (they may be attended to), "
        "False the padding",
        lambda lens, n: ~reference.padding_mask(lens, n),
    ),
    Mistake(
        "off by one: a sentence of length L has real tokens at positions 0..L-1, so use "
        "position < length",
        lambda lens, n: (torch.arange(n)[None, :] <= lens[:, None])[:, None],
    ),
    Mistake(
        "the query axis is missing: return shape (batch, 1, num_keys) so that the mask "
        "broadcasts over all queries (e.g. mask[:, None, :])",
        lambda lens, n: torch.arange(n)[None, :] < lens[:, None],
    ),
    Mistake(
        "the query axis goes in the middle: return shape (batch, 1, num_keys), mask[:, None, :], "
        "so that the mask lines up with the keys (the last axis of the scores)",
        lambda lens, n: reference.padding_mask(lens, n).transpose(1, 2),
    ),
    Mistake(
        "the last real token is masked: a sentence of length L has real tokens at positions "
        "0..L-1, so use position < length (not length - 1)",
        lambda lens, n: reference.padding_mask(lens - 1, n),
    ),
    Mistake(
        "the mask has a column per key of the longest sentence, not num_keys: build the "
        "positions with torch.arange(num_keys), the padded length",
        lambda lens, n: reference.padding_mask(lens, int(lens.max())),
    ),
    Mistake(
        "positions and lengths must be compared as a row against a column, torch.arange(num_keys)"
        "[None, :] < valid_lens[:, None], so that broadcasting gives one row per sentence",
        lambda lens, n: (torch.arange(n) < lens)[:, None],
    ),
    Mistake(MASK_ADVICE, lambda lens, n: reference.padding_mask(lens, n).float()),
]


@recognises(PADDING_MISTAKES)
def padding_mask(learner_fn, *, seed: int = 0, n_random: int = 10) -> None:
    """Check `padding_mask(valid_lens, num_keys) -> (batch, 1, num_keys)` boolean mask."""
    fn = require_function(learner_fn, "padding_mask")
    generator = torch.Generator().manual_seed(seed)
    cases = [
        Case((torch.tensor([2, 3]), 4)),
        Case((torch.tensor([5, 1, 3]), 5)),
        Case((torch.tensor([1]), 1)),
        Case((torch.tensor([3, 3]), 6)),
    ]
    for _ in range(n_random):
        batch, num_keys = (int(v) for v in torch.randint(1, 8, (2,), generator=generator))
        cases.append(
            Case((torch.randint(1, num_keys + 1, (batch,), generator=generator), num_keys))
        )
    run_cases(
        "padding_mask",
        fn,
        reference.padding_mask,
        cases,
        signature="padding_mask(valid_lens, num_keys)",
        mistakes=PADDING_MISTAKES,
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice=MASK_ADVICE,
    )
    passed("padding_mask", f"correct on {len(cases)} cases")


CAUSAL_MISTAKES = [  # the additive mask first, as for the padding mask
    Mistake(
        "this is an additive float mask (0 and -inf, as nn.Transformer's "
        "generate_square_subsequent_mask makes); this course's masks are boolean: " + MASK_ADVICE,
        lambda n: torch.zeros(n, n).masked_fill(~reference.causal_mask(n), NEG_INF),
    ),
    Mistake(
        "position i can see the positions after it, the future: keep key <= query (lower "
        "triangle, torch.tril)",
        lambda n: torch.ones(n, n, dtype=torch.bool).triu(),
    ),
    Mistake(
        "a position must be allowed to see itself: include the diagonal (key <= query)",
        lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1),
    ),
    Mistake(
        "the mask is inverted: True must mean 'may attend' (key <= query)",
        lambda n: ~reference.causal_mask(n),
    ),
    Mistake(
        "position i sees position i + 1, the next word it is supposed to predict: keep key <= "
        "query (torch.tril, diagonal=0)",
        lambda n: torch.ones(n, n, dtype=torch.bool).tril(1),
    ),
    Mistake(
        "compare a column of query positions with a row of key positions, torch.arange(size)"
        "[None, :] <= torch.arange(size)[:, None], so that broadcasting gives a (size, size) table",
        lambda n: torch.arange(n) <= torch.arange(n),
    ),
    Mistake(
        "return shape (size, size): the batch and head axes are added by broadcasting",
        lambda n: reference.causal_mask(n)[None],
    ),
    Mistake(MASK_ADVICE, lambda n: torch.ones(n, n).tril()),
]


@recognises(CAUSAL_MISTAKES)
def causal_mask(learner_fn) -> None:
    """Check `causal_mask(size) -> (size, size)` boolean mask, True where key <= query."""
    fn = require_function(learner_fn, "causal_mask")
    cases = [Case((size,)) for size in (3, 5, 1, 2, 8)]
    run_cases(
        "causal_mask",
        fn,
        lambda size: reference.causal_mask(size),
        cases,
        signature="causal_mask(size)",
        mistakes=CAUSAL_MISTAKES,
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice=MASK_ADVICE,
    )
    passed("causal_mask", f"correct for sizes {', '.join(str(c.args[0]) for c in cases)}")


# --- the translator's decoder step and its greedy loop --------------------------------------------

STEP_SIGNATURE = "attention_decoder_step(model, token, state, encoder_outputs, source_mask)"


def _step(
    model,
    token,
    state,
    encoder_outputs,
    source_mask,
    *,
    mask="applied",
    query="after",
    project_keys=True,
    scaled=True,
    softmax_dim=-1,
    values="encoder outputs",
    order="context first",
    squash=True,
    returned_state="new",
):
    """The reference decoder step with one knob turned: the catalogue of mistakes below."""
    decoded, new_state = model.decoder(model.target_embedding(token), state)  # (B, 1, H)
    queries = decoded if query == "after" else state.transpose(0, 1)
    keys = model.key_projection(encoder_outputs) if project_keys else encoder_outputs
    scores = queries @ keys.transpose(-2, -1)
    if scaled:
        scores = scores / math.sqrt(queries.shape[-1])
    if mask == "applied":
        scores = scores.masked_fill(~source_mask, NEG_INF)
    elif mask == "inverted":
        scores = scores.masked_fill(source_mask, NEG_INF)
    weights = torch.softmax(scores, dim=softmax_dim)
    context = weights @ (encoder_outputs if values == "encoder outputs" else keys)
    parts = [context, decoded] if order == "context first" else [decoded, context]
    combined = model.combine(torch.cat(parts, dim=-1))
    combined = torch.tanh(combined) if squash else combined
    return model.output(combined), (new_state if returned_state == "new" else state), weights


STEP_MISTAKES = [
    Mistake(
        "the padding mask is ignored: some weight goes to <pad> positions. Set the scores where "
        "source_mask is False to -inf before the softmax",
        lambda *a: _step(*a, mask="ignored"),
    ),
    Mistake(
        "the query is the decoder's state from before this step: run the GRU step first, and let "
        "its new output ask the question (the model attends with the state it just computed)",
        lambda *a: _step(*a, query="before"),
    ),
    Mistake(
        "the keys are the encoder outputs themselves: project them with model.key_projection "
        "first (the values stay the encoder outputs)",
        lambda *a: _step(*a, project_keys=False),
    ),
    Mistake("the scores are not divided by sqrt(hidden_size)", lambda *a: _step(*a, scaled=False)),
    Mistake(
        "concatenate [context, decoder_state] in that order before model.combine",
        lambda *a: _step(*a, order="state first"),
    ),
    Mistake(
        "the combined vector goes through tanh before the output layer: "
        "tanh(model.combine([context, decoder_state]))",
        lambda *a: _step(*a, squash=False),
    ),
    Mistake(
        "the mask is inverted: source_mask is True at the real tokens, so fill the scores where "
        "it is False (~source_mask) with -inf",
        lambda *a: _step(*a, mask="inverted"),
    ),
    Mistake(
        "softmax over the wrong axis: the weights of a step must sum to 1 over the source "
        "positions (dim=-1)",
        lambda *a: _step(*a, softmax_dim=1),
    ),
    Mistake(
        "the context is a weighted sum of the encoder outputs themselves (the values), not of "
        "their projection (the keys)",
        lambda *a: _step(*a, values="keys"),
    ),
    Mistake(
        "return the decoder's new state (the second output of model.decoder), not the state "
        "the step was given",
        lambda *a: _step(*a, returned_state="old"),
    ),
]


class _EndsAtDifferentSteps(reference.AttentionSeq2SeqGRU):
    """A translator whose sentence i writes <eos> (id `eos_id`) at step i + 2: decoding must go on
    until the last sentence has ended."""

    eos_id = 2

    def encode(self, source, source_lengths):
        self.steps_taken = 0
        return super().encode(source, source_lengths)

    def decoder_step(self, token, state, encoder_outputs, source_mask):
        logits, state, weights = super().decoder_step(token, state, encoder_outputs, source_mask)
        self.steps_taken += 1
        ends = torch.arange(len(token), device=token.device) + 2 == self.steps_taken
        logits = logits.clone()
        logits[ends, 0, self.eos_id] = 1e4
        return logits, state, weights


def _translator_cases(seed: int, decode: bool) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for vocab, embedding, hidden, lengths in [
            (11, 6, 8, [5, 3, 2]),
            (9, 4, 12, [4, 4]),
            (14, 8, 16, [6, 1, 4, 3]),
        ]:
            model = reference.AttentionSeq2SeqGRU(vocab, vocab, embedding, hidden).eval()
            source = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
            for row, length in enumerate(lengths):
                source[row, :length] = torch.randint(4, vocab, (length,), generator=generator)
            source_lengths = torch.tensor(lengths)
            if decode:
                cases.append(Case((model, source, source_lengths, 7, 1, 2)))
                ending = _EndsAtDifferentSteps(vocab, vocab, embedding, hidden).eval()
                ending.load_state_dict(model.state_dict())
                cases.append(Case((ending, source, source_lengths, 7, 1, 2)))
                continue
            with torch.no_grad():
                encoder_outputs, final = model.encode(source, source_lengths)
            state = final + 0.5 * torch.randn(final.shape, generator=generator)
            token = torch.randint(4, vocab, (len(lengths), 1), generator=generator)
            mask = reference.padding_mask(source_lengths, source.shape[1])
            cases.append(Case((model, token, state, encoder_outputs, mask)))
    return cases


@recognises(STEP_MISTAKES)
def attention_decoder_step(learner_fn, *, seed: int = 0) -> None:
    """Check `attention_decoder_step(model, token, state, encoder_outputs, source_mask)` ->
    (logits, new state, weights) against `AttentionSeq2SeqGRU.decoder_step`."""
    fn = require_function(learner_fn, "attention_decoder_step")
    cases = _translator_cases(seed, decode=False)
    run_cases(
        "attention_decoder_step",
        fn,
        lambda model, *args: model.decoder_step(*args),
        cases,
        signature=STEP_SIGNATURE,
        mistakes=STEP_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
        output_names=("logits", "state", "weights"),
    )
    passed(
        "attention_decoder_step",
        f"logits, state and attention weights match the translator's on {len(cases)} cases",
    )


def _translate(model, source, source_lengths, max_len, bos_id, eos_id, *, mistake):
    """The reference greedy loop with one mistake: the catalogue below."""
    encoder_outputs, state = model.encode(source, source_lengths)
    first_state = state
    mask = reference.padding_mask(source_lengths, source.shape[1])
    token = torch.full((source.shape[0], 1), bos_id, dtype=torch.long)
    start = token
    ids, weights = [], []
    finished = torch.zeros(source.shape[0], dtype=torch.bool)
    for _ in range(max_len):
        step_state = first_state if mistake == "state" else state
        logits, state, step_weights = model.decoder_step(
            start if mistake == "feed" else token,
            step_state,
            encoder_outputs,
            None if mistake == "no mask" else mask,
        )
        token = logits.argmax(dim=-1)
        finished |= token.squeeze(1) == eos_id
        if mistake == "last eos dropped" and finished.all():
            break
        ids.append(token)
        weights.append(step_weights)
        if mistake == "never stops":
            continue
        if (finished.any() if mistake == "stop" else finished.all()) or (mistake == "one step"):
            break
    if mistake == "stacked":
        return torch.cat(ids, dim=1), torch.stack(weights, dim=1)
    return torch.cat(ids, dim=1), torch.cat(weights, dim=1)


TRANSLATE_MISTAKES = [
    Mistake(
        "feed each predicted token back as the next input; yours feeds <bos> at every step",
        lambda *a: _translate(*a, mistake="feed"),
    ),
    Mistake(
        "carry the decoder's state from step to step (the step returns the new one); yours "
        "restarts from the encoder's final state every time",
        lambda *a: _translate(*a, mistake="state"),
    ),
    Mistake(
        "decoding stopped when the first sentence wrote <eos>: go on until every sentence has "
        "(keep a `finished` flag per row)",
        lambda *a: _translate(*a, mistake="stop"),
    ),
    Mistake(
        "decoding stopped after one step: loop up to max_len steps",
        lambda *a: _translate(*a, mistake="one step"),
    ),
    Mistake(
        "decoding went on after every sentence had written <eos>: stop as soon as all of them "
        "have (finished.all())",
        lambda *a: _translate(*a, mistake="never stops"),
    ),
    Mistake(
        "the last <eos> is missing: keep the token of the step that finishes the last sentence "
        "(append it before checking whether to stop)",
        lambda *a: _translate(*a, mistake="last eos dropped"),
    ),
    Mistake(
        "the source padding mask is not passed to decoder_step: attention goes to <pad> "
        "positions. Pass padding_mask(source_lengths, source_len)",
        lambda *a: _translate(*a, mistake="no mask"),
    ),
    Mistake(
        "the steps' weights (batch, 1, source_len) are joined along dim 1 with torch.cat, giving "
        "(batch, steps, source_len); torch.stack adds an axis",
        lambda *a: _translate(*a, mistake="stacked"),
    ),
]


@recognises(TRANSLATE_MISTAKES)
def translate(learner_fn, *, seed: int = 0) -> None:
    """Check `translate(model, source, source_lengths, max_len, bos_id, eos_id)` -> (ids (batch,
    steps), weights (batch, steps, source_len)) against the translator's greedy decoding."""
    fn = require_function(learner_fn, "translate")
    cases = _translator_cases(seed, decode=True)
    with torch.no_grad():
        run_cases(
            "translate",
            fn,
            lambda model, *args: model.greedy_decode(*args, return_attention=True),
            cases,
            signature="translate(model, source, source_lengths, max_len, bos_id, eos_id)",
            mistakes=TRANSLATE_MISTAKES,
            atol=ATOL,
            rtol=RTOL,
            differentiable=False,
            output_names=("ids", "weights"),
        )
    passed("translate", f"the same translations and attention weights on {len(cases)} cases")
