"""Notebook 05: the decoder-only LM (parity with torch.nn, float32, atol 1e-5), its loss mask,
generation (readable and batched agree), the checkers, and the docstring data's extraction."""

import pytest
import torch
from torch import nn

from course_lib import check
from course_lib import decoder_only as reference
from course_lib.check.decoder_only import (
    GENERATE_CASES,
    GENERATE_MISTAKES,
    GPT_BLOCK_MISTAKES,
    GPT_MISTAKES,
    HARD_CODED_ID_MISTAKES,
    LOSS_MASK_MISTAKES,
    NGRAM_MISTAKES,
    SUMMARIZER_LOSS_MISTAKES,
    TOP_P_MISTAKES,
    ScriptedLM,
)
from course_lib.decoder_only import DecoderOnlyLM, generate, generate_batch, summary_loss_mask
from course_lib.summarization_data import docstring_pair, split_of

ATOL = 1e-5


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_decoder_stack_matches_torch_encoder_with_a_causal_mask():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
    theirs = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(32)).eval()
    ours = DecoderOnlyLM(50, d_model=32, num_heads=4, num_layers=2, d_ff=64, dropout=0.0)
    ours.load_from_torch(theirs).eval()
    ids = torch.randint(3, 50, (2, 9))
    embedded = ours.embedding(ids) + ours.positions[:9]
    expected = theirs(embedded, mask=nn.Transformer.generate_square_subsequent_mask(9))
    torch.testing.assert_close(ours.hidden_states(ids), expected, atol=ATOL, rtol=ATOL)


def test_loss_mask_marks_the_summary_and_its_eos_only():
    ids = torch.tensor([[5, 6, 1, 7, 8, 2, 0], [5, 1, 7, 2, 0, 0, 0]])
    expected = torch.tensor([[0, 0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(summary_loss_mask(ids, sep_id=1, pad_id=0), expected)


def test_a_prediction_never_sees_the_future():
    torch.manual_seed(0)
    model = DecoderOnlyLM(40, d_model=32, num_heads=4, d_ff=64, dropout=0.0).eval()
    ids = torch.randint(3, 40, (1, 8))
    changed = ids.clone()
    changed[0, 5:] = 3
    torch.testing.assert_close(model(ids)[:, :5], model(changed)[:, :5])


def test_left_padded_rows_give_the_same_prediction_as_unpadded_ones():
    torch.manual_seed(0)
    model = DecoderOnlyLM(40, d_model=32, num_heads=4, d_ff=64, dropout=0.0).eval()
    short = torch.tensor([7, 8, 9])
    padded = torch.tensor([[0, 0, 7, 8, 9]])
    padding = torch.tensor([[False, False, True, True, True]])
    torch.testing.assert_close(
        model(padded, padding)[0, -1], model(short[None])[0, -1], atol=ATOL, rtol=ATOL
    )


def test_batched_generation_matches_one_at_a_time():
    torch.manual_seed(0)
    model = DecoderOnlyLM(30, d_model=32, num_heads=4, d_ff=64, dropout=0.0).eval()
    with torch.no_grad():  # make <eos> (id 2) likely enough that some rows stop early
        model.head.bias[2] += 2.5
    prompts = [torch.randint(3, 30, (n,)) for n in (4, 9, 1, 6, 6)]
    batched = generate_batch(model, prompts, max_new_tokens=10, eos_id=2)
    singles = [generate(model, prompt, 10, eos_id=2) for prompt in prompts]
    assert any(len(ids) < 10 for ids in singles)  # both endings are exercised
    for ours, single in zip(batched, singles, strict=True):
        assert ours.tolist() == single.tolist()


def test_generate_cases_reach_both_endings():
    model = ScriptedLM()
    lengths = [
        len(generate(model, torch.tensor(prompt), limit, eos_id))
        for prompt, limit, eos_id in GENERATE_CASES
    ]
    limits = [limit for _, limit, _ in GENERATE_CASES]
    assert any(n < limit for n, limit in zip(lengths, limits, strict=True))
    assert any(n == limit for n, limit in zip(lengths, limits, strict=True))


@pytest.mark.parametrize(
    "checker, function",
    [
        (check.summary_loss_mask, summary_loss_mask),
        (check.generate, generate),
        (check.repeated_ngram_tokens, reference.repeated_ngram_tokens),
        (check.summarizer_loss, reference.summarizer_loss),
    ],
    ids=["summary_loss_mask", "generate", "repeated_ngram_tokens", "summarizer_loss"],
)
def test_notebook_05_reference_passes(checker, function, capsys):
    checker(function)
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.parametrize("mistake", HARD_CODED_ID_MISTAKES + LOSS_MASK_MISTAKES)
def test_loss_mask_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.summary_loss_mask(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


@pytest.mark.parametrize("index", range(len(GENERATE_MISTAKES)))
def test_generate_mistakes_get_their_hint(index):
    mistake = GENERATE_MISTAKES[index]
    with pytest.raises(check.CheckFailed) as failure:
        check.generate(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_generate_called_without_a_batch_axis_gets_advice():
    def unbatched(model, prompt, max_new_tokens, eos_id):
        return model(prompt)[-1].argmax()[None]

    with pytest.raises(check.CheckFailed, match=r"model\(ids\[None\]\)"):
        check.generate(unbatched)


@pytest.mark.parametrize("gap", ["\n\n", "\n"], ids=["section-paragraph", "section-in-paragraph"])
def test_docstring_pair_takes_the_description_up_to_the_first_section(gap):
    docstring = (
        "Return the number of widgets in a box.\n\n"
        "A box may hold widgets of several :class:`Kind` s; all of them are counted, and\n"
        "``None`` counts as an empty box that holds nothing at all." + gap + "Args:\n"
        "    box: the box."
    )
    article, summary = docstring_pair(docstring)
    assert summary == "Return the number of widgets in a box."
    assert article.startswith("A box may hold widgets of several Kind s;")
    assert article.endswith("holds nothing at all.")


@pytest.mark.parametrize(
    "docstring",
    [
        "Only a summary line.",
        "Summary line here please.\n\nToo short.",
        "Summary line here please.\n\nArgs:\n    x: something long enough to count as words.",
        ">>> code first\n\nThen a long description that goes on and on for many words indeed.",
    ],
)
def test_docstrings_without_a_pair_are_skipped(docstring):
    assert docstring_pair(docstring) is None


def test_split_of_is_stable_roughly_80_10_10_and_keeps_equal_summaries_together():
    summaries = [f"Return widget number {i}." for i in range(2000)]
    splits = [split_of(summary) for summary in summaries]
    assert splits == [split_of(summary) for summary in summaries]
    assert 0.75 < splits.count("train") / 2000 < 0.85
    assert 0.07 < splits.count("test") / 2000 < 0.13
    assert all(split_of(s.upper() + "  ") == split_of(s) for s in summaries[:50])


def test_reference_loss_counts_only_the_summary():
    torch.manual_seed(0)
    model = DecoderOnlyLM(20, d_model=16, num_heads=2, d_ff=32, dropout=0.0)
    batch = type("Batch", (), {"ids": torch.tensor([[5, 6, 1, 7, 2, 0]])})()
    weighted = reference.summarizer_loss(model, batch, sep_id=1, weighted=True)
    logits = model(batch.ids[:, :-1])[0]  # predictions after each token
    expected = nn.functional.cross_entropy(logits[2:4], torch.tensor([7, 2]))
    torch.testing.assert_close(weighted, expected)


def test_generate_that_samples_is_told_to_take_the_argmax():
    def sampling(model, prompt, max_new_tokens, eos_id):
        ids = prompt
        for _ in range(max_new_tokens):
            probabilities = model(ids[None])[0, -1].softmax(-1)
            next_id = torch.multinomial(probabilities, 1)
            if next_id.item() == eos_id:
                break
            ids = torch.cat([ids, next_id])
        return ids[len(prompt) :]

    torch.manual_seed(0)
    with pytest.raises(check.CheckFailed, match="argmax"):
        check.generate(sampling)


def test_generate_may_ask_the_model_for_its_device(capsys):
    def device_aware(model, prompt, max_new_tokens, eos_id):
        return generate(model, prompt.to(next(model.parameters()).device), max_new_tokens, eos_id)

    check.generate(device_aware)
    assert capsys.readouterr().out.startswith("✅ generate")


def test_the_gpt_block_and_sampling_references_pass(capsys):
    check.gpt_block(reference.GPTBlock)
    check.sample_next_token(reference.sample_next_token)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✅ GPTBlock") and lines[1].startswith("✅ sample_next_token")


@pytest.mark.parametrize("mistake", GPT_BLOCK_MISTAKES, ids=lambda m: m.hint[:40])
def test_gpt_block_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.gpt_block(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def _top_k_plus_one(logits, temperature=1.0, top_k=None, generator=None):
    top_k = None if top_k is None else top_k + 1
    return reference.sample_next_token(logits, temperature, top_k, generator)


def _temperature_after_softmax(logits, temperature=1.0, top_k=None, generator=None):
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1) / temperature
    probabilities = probabilities / probabilities.sum(-1, keepdim=True)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def _temperature_multiplied(logits, temperature=1.0, top_k=None, generator=None):
    return reference.sample_next_token(logits, 1 / temperature, top_k, generator)


def _always_greedy(logits, temperature=1.0, top_k=None, generator=None):
    return logits.argmax(-1)


def _global_generator(logits, temperature=1.0, top_k=None, generator=None):
    return reference.sample_next_token(logits, temperature, top_k, None)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_top_k_plus_one, "(k + 1 tokens kept?)"),
        (_temperature_after_softmax, "the temperature is applied after the softmax"),
        (_temperature_multiplied, "the logits are multiplied by the temperature"),
        (_always_greedy, "the most likely token is always drawn"),
        (_global_generator, "changed torch's global random state"),
        (lambda logits, temperature, top_k, generator: logits, "return one token id per row"),
    ],
)
def test_sampling_mistakes_are_named(wrong, hint):
    with pytest.raises(check.CheckFailed) as failure:
        check.sample_next_token(wrong)
    assert hint in str(failure.value)


def test_a_near_zero_temperature_is_greedy_and_top_k_keeps_k_tokens():
    logits = torch.tensor([[0.1, 3.0, 2.9, -1.0], [5.0, 0.0, 4.0, 4.5]])
    generator = torch.Generator().manual_seed(0)
    assert reference.sample_next_token(logits, 1e-4, generator=generator).tolist() == [1, 0]
    draws = reference.sample_next_token(logits.repeat(500, 1), 5.0, 2, generator)
    assert set(draws[0::2].tolist()) == {1, 2} and set(draws[1::2].tolist()) == {0, 3}
    with pytest.raises(ValueError, match="temperature must be positive"):
        reference.sample_next_token(logits, 0.0)


def test_the_gpt_model_reference_passes(capsys):
    check.gpt_model(reference.DecoderOnlyLM)
    assert capsys.readouterr().out.startswith("✅ GPT")


@pytest.mark.parametrize("mistake", GPT_MISTAKES, ids=lambda m: m.hint[:40])
def test_gpt_model_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.gpt_model(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_a_gpt_with_other_parameter_names_gets_advice():
    class Renamed(reference.DecoderOnlyLM):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.output = self.head
            del self.head

        def forward(self, ids):
            return self.output(self.hidden_states(ids))

    with pytest.raises(check.CheckFailed, match="not named as the exercise asks"):
        check.gpt_model(Renamed)


def _top_p_variant(variant):
    def sample(logits, p, generator=None):
        probabilities = torch.softmax(logits, dim=-1)
        if variant == "vocabulary order":
            ranked, order = probabilities, torch.arange(logits.shape[-1]).expand_as(logits)
        else:
            ranked, order = probabilities.sort(dim=-1, descending=variant != "ascending")
        before = ranked.cumsum(-1) - ranked
        crossing = variant == "crossing token dropped"
        ranked = ranked.masked_fill(ranked.cumsum(-1) >= p if crossing else before >= p, 0.0)
        drawn = torch.multinomial(ranked, 1, generator=generator)
        if variant == "rank returned":
            return drawn.squeeze(-1)
        return order.gather(-1, drawn).squeeze(-1)

    return sample


def test_the_top_p_reference_passes(capsys):
    check.sample_top_p(reference.sample_top_p)
    assert capsys.readouterr().out.startswith("✅ sample_top_p")


@pytest.mark.parametrize("variant, hint", TOP_P_MISTAKES, ids=[v for v, _ in TOP_P_MISTAKES])
def test_top_p_mistakes_get_their_hint(variant, hint):
    with pytest.raises(check.CheckFailed) as failure:
        check.sample_top_p(_top_p_variant(variant))
    assert hint in str(failure.value)


def test_top_p_with_the_global_generator_gets_advice():
    def global_draws(logits, p, generator=None):
        return reference.sample_top_p(logits, p)

    with pytest.raises(check.CheckFailed, match="generator"):
        check.sample_top_p(global_draws)


def test_repeated_ngram_tokens_bans_what_followed_the_last_n_minus_1_tokens():
    assert reference.repeated_ngram_tokens([5, 6, 7, 5, 6], 3) == [7]
    assert sorted(reference.repeated_ngram_tokens([1, 2, 3, 1, 2, 9, 1, 2], 3)) == [3, 9]
    assert reference.repeated_ngram_tokens([8, 9], 3) == []
    assert sorted(reference.repeated_ngram_tokens([3, 1, 4], 1)) == [1, 3, 4]
    with pytest.raises(ValueError, match="at least 1"):
        reference.repeated_ngram_tokens([1, 2], 0)


def test_blocked_greedy_decoding_never_repeats_an_ngram():
    torch.manual_seed(0)
    model = DecoderOnlyLM(12, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0).eval()
    with torch.no_grad():  # a model that loves token 5 after anything: greedy repeats it
        model.head.bias.zero_()
        model.head.bias[5], model.head.bias[2] = 20.0, -20.0  # and never ends
    prompts = [torch.tensor([3, 4, 1]), torch.tensor([6, 1])]
    greedy = generate_batch(model, prompts, max_new_tokens=8, eos_id=2)
    assert greedy[0].tolist() == [5] * 8
    for n in (2, 3):
        for ids in generate_batch(model, prompts, max_new_tokens=8, eos_id=2, no_repeat_ngram=n):
            ngrams = [tuple(ids.tolist()[i : i + n]) for i in range(len(ids) - n + 1)]
            assert len(ngrams) == len(set(ngrams)) and len(ids) == 8


def test_a_saved_summarizer_loads_back_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert reference.load_model("nothing-here") is None
    torch.manual_seed(0)
    model = DecoderOnlyLM(40, d_model=16, num_heads=2, num_layers=1, d_ff=32).eval()
    reference.save_model(model, "tiny")
    loaded = reference.load_model("tiny")
    ids = torch.randint(3, 40, (2, 7))
    assert not loaded.training and loaded.config == model.config
    assert torch.equal(loaded(ids), model(ids))


@pytest.mark.parametrize(
    "checker, mistake",
    [(check.repeated_ngram_tokens, m) for m in NGRAM_MISTAKES]
    + [(check.summarizer_loss, m) for m in SUMMARIZER_LOSS_MISTAKES],
    ids=lambda value: value.hint[:30] if hasattr(value, "hint") else value.__name__,
)
def test_ngram_and_loss_mistakes_get_their_hint(checker, mistake):
    with pytest.raises(check.CheckFailed) as failure:
        checker(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_ngram_check_names_a_wrong_return_type():
    with pytest.raises(check.CheckFailed, match="list of token ids"):
        check.repeated_ngram_tokens(lambda ids, n: None)
