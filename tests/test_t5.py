"""T5 (notebook 07): parity with `transformers` (copied weights, float32), span corruption and
task formatting with their checkers and planted mistakes, mixing rates, and the task data."""

import io
import pickle
import random

import pytest
import torch
import transformers
from transformers.models.t5.modeling_t5 import T5Attention, T5LayerNorm

from course_lib import check, t5, t5_data, t5_training
from course_lib.check.t5 import (
    ATTENTION_MISTAKES,
    BUCKET_MISTAKES,
    KIND_MISTAKES,
    MIXING_MISTAKES,
    RMS_MISTAKES,
    _bucket,
)
from course_lib.facts_data import load_facts_corpus
from course_lib.training import use_fast_attention

ATOL = 1e-5


def _pair(num_buckets=8, max_distance=20):
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=50,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        relative_attention_num_buckets=num_buckets,
        relative_attention_max_distance=max_distance,
        decoder_start_token_id=0,
    )
    theirs = transformers.T5ForConditionalGeneration(config).eval()
    ours = t5.T5(t5.T5Config.from_transformers(config)).load_from_transformers(theirs).eval()
    return theirs, ours


def _inputs():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 50, (3, 30), generator=generator)
    ids[0, 22:] = 0  # padding
    labels = torch.randint(3, 50, (3, 26), generator=generator)
    return ids, labels


@pytest.mark.parametrize("fast", [False, True])
def test_scores_match_transformers_t5_with_padding(fast):
    theirs, ours = _pair()
    use_fast_attention(ours, fast)
    ids, labels = _inputs()
    with torch.no_grad():
        expected = theirs(
            input_ids=ids,
            attention_mask=(ids != 0).long(),
            decoder_input_ids=t5.shift_right(labels),
        ).logits
        got = ours(ids, t5.shift_right(labels))
    assert torch.allclose(got, expected, atol=ATOL)


def test_loss_matches_transformers_with_ignored_labels():
    theirs, ours = _pair()
    ids, labels = _inputs()
    labels[1, 20:] = -100
    expected = theirs(
        input_ids=ids,
        attention_mask=(ids != 0).long(),
        decoder_input_ids=t5.shift_right(labels),
        labels=labels,
    ).loss
    got = t5.seq2seq_loss(ours, t5_data.T5Batch(ids, labels, []))
    assert torch.allclose(got, expected, atol=ATOL)


def test_greedy_generation_matches_transformers():
    theirs, ours = _pair(num_buckets=32, max_distance=128)
    ids, _ = _inputs()
    expected = theirs.generate(
        input_ids=ids,
        attention_mask=(ids != 0).long(),
        max_new_tokens=8,
        do_sample=False,
        eos_token_id=None,
    )[:, 1:].tolist()
    assert t5.generate(ours, ids, max_len=8) == expected


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_buckets_match_transformers(bidirectional):
    distances = torch.arange(-300, 301)[None, :]
    expected = T5Attention._relative_position_bucket(distances, bidirectional, 32, 128)
    assert torch.equal(t5.relative_position_bucket(distances, bidirectional, 32, 128), expected)


def test_rms_norm_matches_transformers():
    theirs = T5LayerNorm(16, eps=1e-6)
    torch.nn.init.normal_(theirs.weight)
    ours = t5.RMSNorm(16)
    ours.weight.data.copy_(theirs.weight)
    x = torch.randn(4, 5, 16) * 3 + 1
    assert torch.allclose(ours(x), theirs(x), atol=ATOL)


def test_bad_ids_get_a_clear_error():
    _, ours = _pair()
    with pytest.raises(ValueError, match="outside 0..49"):
        ours(torch.tensor([[3, 50]]), torch.tensor([[0]]))
    with pytest.raises(ValueError, match="long tensor of shape"):
        ours(torch.tensor([3, 4]), torch.tensor([[0]]))


def test_config_refuses_what_the_course_t5_does_not_build():
    gated = transformers.T5Config(feed_forward_proj="gated-gelu")
    with pytest.raises(ValueError, match="ReLU"):
        t5.T5Config.from_transformers(gated)


def test_span_corruption_reference_restores_and_hides_spans():
    rng = random.Random(0)
    sentinels = list(range(1000, 1032))
    hidden = total = spans = 0
    for _ in range(200):
        tokens = [rng.randrange(10, 999) for _ in range(rng.randrange(2, 100))]
        inputs, targets = t5_data.span_corruption(tokens, sentinels, rng)
        assert t5_data.reconstruct(inputs, targets, sentinels) == tokens
        count = sum(token in sentinels for token in inputs)
        spans += count
        hidden += len(targets) - count
        total += len(tokens)
    assert abs(hidden / total - 0.15) < 0.02
    assert 2.5 < hidden / spans < 3.5


def test_random_partition():
    rng = random.Random(0)
    for total, pieces in ((10, 3), (5, 5), (7, 1)):
        parts = t5_data.random_partition(total, pieces, rng)
        assert len(parts) == pieces and sum(parts) == total and min(parts) >= 1


def test_reference_functions_pass_their_checks(capsys):
    check.span_corruption(t5_data.span_corruption)
    check.format_example(t5_data.to_text)
    assert capsys.readouterr().out.count("✅") == 2


def _per_token(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    """BERT-style: each token hidden on its own, with its own sentinel."""
    inputs, targets, k = [], [], 0
    for position, token in enumerate(tokens):
        if rng.random() < noise_density or (position == 1 and k == 0):
            inputs.append(sentinels[k])
            targets += [sentinels[k], token]
            k += 1
        else:
            inputs.append(token)
    return inputs, targets


def _global_random(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    return t5_data.span_corruption(tokens, sentinels, random, noise_density, mean_span_length)


def _ignores_settings(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    return t5_data.span_corruption(tokens, sentinels, rng)


def _no_sentinels_in_targets(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    inputs, targets = t5_data.span_corruption(
        tokens, sentinels, rng, noise_density, mean_span_length
    )
    return inputs, [token for token in targets if token not in sentinels]


def _density_of_span_starts(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    return t5_data.span_corruption(
        tokens, sentinels, rng, noise_density * mean_span_length, mean_span_length
    )


def _same_sentinel(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    return t5_data.span_corruption(
        tokens, [sentinels[0]] * len(sentinels), rng, noise_density, mean_span_length
    )


def _drops_a_token(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    inputs, targets = t5_data.span_corruption(
        tokens, sentinels, rng, noise_density, mean_span_length
    )
    return inputs[1:] if inputs[0] not in sentinels else inputs, targets


def _always_at_the_end(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    hidden = max(round(len(tokens) * noise_density), 1)
    spans = max(round(hidden / mean_span_length), 1)
    cut = len(tokens) - hidden - spans + 1
    inputs, targets = list(tokens[:cut]), []
    rest = tokens[cut:]
    sizes = t5_data.random_partition(hidden, spans, rng)
    for k, size in enumerate(sizes):
        inputs.append(sentinels[k])
        targets += [sentinels[k], *rest[:size]]
        rest = rest[size:]
        if rest:
            inputs.append(rest[0])
            rest = rest[1:]
    return inputs, targets


def _fixed_seed(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
    return t5_data.span_corruption(
        tokens, sentinels, random.Random(0), noise_density, mean_span_length
    )


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_per_token, "nothing was hidden|spans are|sentinels"),
        (_global_random, "global random generator|same rng seed"),
        (_ignores_settings, "Use the noise_density argument"),
        (_no_sentinels_in_targets, "targets should list the same sentinels"),
        (_density_of_span_starts, "START a span"),
        (_same_sentinel, "each used once, in order"),
        (_drops_a_token, "does not give the original"),
        (_always_at_the_end, "half of the sequences"),
        (_fixed_seed, "five different rng seeds"),
    ],
)
def test_span_corruption_mistakes_are_named(wrong, message):
    with pytest.raises(check.CheckFailed, match=message):
        check.span_corruption(wrong)


def test_span_corruption_check_leaves_the_global_random_state_alone():
    random.seed(7)
    expected = random.random()
    random.seed(7)
    check.span_corruption(t5_data.span_corruption)
    assert random.random() == expected


def _unrounded(task, example):
    source, target = t5_data.to_text(task, example)
    return (source, f"{example['score']:.1f}") if task == "similarity" else (source, target)


def _number_target(task, example):
    source, target = t5_data.to_text(task, example)
    return (source, float(target)) if task == "similarity" else (source, target)


def _no_space(task, example):
    source, target = t5_data.to_text(task, example)
    return source.replace(": ", ":"), target


def _wrong_prefix(task, example):
    source, target = t5_data.to_text(task, example)
    return source.replace("translate English to French", "translate"), target


def _silent_on_unknown(task, example):
    try:
        return t5_data.to_text(task, example)
    except ValueError:
        return "", ""


def _two_decimals(task, example):
    source, target = t5_data.to_text(task, example)
    return (source, f"{float(target):.2f}") if task == "similarity" else (source, target)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_unrounded, "multiples of 0.2"),
        (_number_target, "two strings"),
        (_no_space, "only the spaces differ"),
        (_wrong_prefix, "translate English to French: four"),
        (_silent_on_unknown, "should raise ValueError"),
        (_two_decimals, "one decimal"),
    ],
)
def test_format_example_mistakes_are_named(wrong, message):
    with pytest.raises(check.CheckFailed, match=message):
        check.format_example(wrong)


def test_format_example_accepts_either_neighbour_at_an_exact_tie():
    def round_half_up(task, example):
        source, target = t5_data.to_text(task, example)
        if task == "similarity":
            target = f"{int(example['score'] * 5 + 0.5 + 1e-9) / 5:.1f}"
        return source, target

    check.format_example(round_half_up)


def test_mixing_rates():
    sizes = {"big": 9000, "small": 100}
    assert t5_data.mixing_rates(sizes) == pytest.approx({"big": 0.989, "small": 0.011}, abs=1e-3)
    capped = t5_data.mixing_rates(sizes, cap=900)
    assert capped == pytest.approx({"big": 0.9, "small": 0.1})
    tempered = t5_data.mixing_rates(sizes, cap=900, temperature=2)
    assert tempered == pytest.approx({"big": 0.75, "small": 0.25})
    with pytest.raises(ValueError, match="temperature"):
        t5_data.mixing_rates(sizes, temperature=0)


def test_round_like_stsb_and_parse_score():
    assert [t5_data.round_like_stsb(s) for s in (3.73, 0.0, 5.0, 2.49)] == [
        "3.8",
        "0.0",
        "5.0",
        "2.4",
    ]
    assert t5_data.parse_score("3.8 and more", 2.5) == 3.8
    assert t5_data.parse_score("three", 2.5) == 2.5


def test_unknown_task_is_refused_with_the_list():
    with pytest.raises(ValueError, match="translate, summarize, topic, question, similarity"):
        t5_data.to_text("transalte", {})


def test_newsgroup_posts_lose_what_names_the_group():
    post = (
        "Newsgroups: sci.space\nFrom: someone@nasa.gov\n\nIn article <1@x.y> a@b.c writes:\n"
        "> quoted text\nThe orbit decays. Posted to sci.space by me@here.org\n"
    )
    assert t5_data.clean_post(post) == "The orbit decays. Posted to by"


def test_newsgroup_unpickler_refuses_other_classes():
    payload = pickle.dumps(print, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        t5_data._NewsgroupUnpickler(io.BytesIO(payload)).load()


def test_multitask_data_splits_and_batches():
    data = t5_data.load_multitask_data()
    assert data.vocab_size == 4000
    assert len(set(data.sentinel_ids)) == t5_data.NUM_SENTINELS
    translate = {
        split: {e["english"] for e in data.tasks["translate"][split]} for split in t5_data.SPLITS
    }
    assert not translate["train"] & translate["test"]
    pairs = {
        split: {(e["sentence1"], e["sentence2"]) for e in data.tasks["similarity"][split]}
        for split in t5_data.SPLITS
    }
    assert not pairs["train"] & pairs["test"]
    for example in data.tasks["similarity"]["test"][:50]:  # the input determines the score
        words = [
            set(example[key].replace("-", " ").replace(",", "").split())
            for key in ("sentence1", "sentence2")
        ]
        assert example["score"] == 5 * len(words[0] & words[1]) / len(words[0] | words[1])
    questions = data.tasks["question"]
    # the test asks about countries that no training question mentions; their facts are only in
    # the pretraining text
    countries = t5_data.question_countries()
    assert not set(countries["train"]) & set(countries["test"])
    for split in t5_data.SPLITS:
        for example in questions[split]:
            asked = example["question"].rstrip("?.").split()[-1]
            assert asked in countries[split]
    pretraining = " ".join(data.documents["train"])
    assert all(f" {c} " in f" {pretraining} " for c in countries["test"])
    assert len(questions["train"]) == 3 * len(
        [f for f in load_facts_corpus().facts if f.country in countries["train"]]
    )
    topic = data.tasks["topic"]
    assert {e["topic"] for e in topic["test"]} == {"atheism", "space"}
    rates = {"translate": 0.4, "summarize": 0.2, "question": 0.2, "span corruption": 0.2}
    parts = next(iter(t5_data.MixtureBatches(data, rates, batch_size=32)))
    assert sum(part.input_ids.shape[0] for part in parts) == 32
    tasks = [task for part in parts for task in part.tasks]
    assert set(tasks) <= set(rates)
    for part in parts:
        assert part.labels.shape[0] == part.input_ids.shape[0]
        assert (part.labels == t5_data.EOS_ID).sum() == len(part.labels)  # targets end with </s>
        assert (part.labels[part.labels >= 0] < data.vocab_size).all()
    if len(parts) == 2:  # short inputs apart from long ones
        assert parts[0].input_ids.shape[1] <= t5_data.SHORT < parts[1].input_ids.shape[1]


def test_loss_of_a_batch_in_parts_equals_the_loss_of_the_whole_batch():
    _, ours = _pair()
    ids, labels = _inputs()
    labels[1, 20:] = -100
    whole = t5.seq2seq_loss(ours, t5_data.T5Batch(ids, labels, []))
    parts = [t5_data.T5Batch(ids[:1], labels[:1], []), t5_data.T5Batch(ids[1:], labels[1:], [])]
    assert torch.allclose(t5.seq2seq_loss(ours, parts), whole, atol=ATOL)


def test_scores_and_baselines_on_perfect_and_trivial_answers():
    data = t5_data.load_multitask_data()
    for task in t5_data.TASKS:
        perfect = t5_training.references(data, task, "test")
        if task == "similarity":
            perfect = [t5_data.round_like_stsb(score) for score in perfect]
        expected_best = 100.0 if task != "similarity" else 99.0
        assert t5_training.score(task, perfect, data, "test") >= expected_best
    baseline = t5_training.baseline_answers(data, "translate", "test")
    assert t5_training.score("translate", baseline, data, "test") == 0.0
    assert (
        t5_training.score("similarity", t5_training.baseline_answers(data, "similarity"), data)
        == 0.0
    )
    with pytest.raises(ValueError, match="answers for"):
        t5_training.score("topic", ["space"], data, "test")


def test_training_on_the_mixture_lowers_the_loss():
    data = t5_data.load_multitask_data()
    torch.manual_seed(0)
    model = t5.T5(t5.T5Config(vocab_size=data.vocab_size, d_model=32, d_kv=8, d_ff=64, heads=4))
    rates = t5_data.mixing_rates(data.sizes(), temperature=float("inf"))
    batches = t5_data.MixtureBatches(data, rates, batch_size=16, per_epoch=5)
    history = t5_training.train(model, batches, steps=12, lr=3e-3, warmup_steps=2, device="cpu")
    assert history.steps[-1] == 12
    assert sum(history.losses[-3:]) < sum(history.losses[:3])
    answers = t5_training.predict(model, data, "topic", "test", limit=5)
    assert len(answers) == 5 and all(isinstance(answer, str) for answer in answers)


def test_the_rms_norm_and_bucket_checks_pass_the_references_and_name_each_mistake(capsys):
    check.rms_norm(t5.RMSNorm)
    check.relative_position_bucket(t5.relative_position_bucket)
    assert capsys.readouterr().out.count("✅") == 2
    distances = torch.arange(-300, 301)[None]
    for bidirectional in (True, False):  # the catalogue's unmodified path is the reference
        assert torch.equal(
            _bucket(distances, bidirectional, 32, 128, mistake=None),
            t5.relative_position_bucket(distances, bidirectional, 32, 128),
        )
    for checker, mistakes in (
        (check.rms_norm, RMS_MISTAKES),
        (check.relative_position_bucket, BUCKET_MISTAKES),
    ):
        for mistake in mistakes:
            with pytest.raises(check.CheckFailed) as failure:
                checker(mistake.wrong_implementation)
            assert mistake.hint in str(failure.value)


def test_the_t5_attention_check_passes_the_reference_and_names_each_mistake(capsys):
    check.t5_attention(t5.T5Attention)
    assert capsys.readouterr().out.startswith("✅ T5Attention")
    for mistake in ATTENTION_MISTAKES:
        with pytest.raises(check.CheckFailed) as failure:
            check.t5_attention(mistake.wrong_implementation)
        assert mistake.hint in str(failure.value)


def test_t5_attention_with_biased_projections_gets_the_naming_advice():
    class Biased(t5.T5Attention):
        def __init__(self, d_model, heads, d_kv):
            super().__init__(d_model, heads, d_kv)
            self.query = torch.nn.Linear(d_model, heads * d_kv)

    with pytest.raises(check.CheckFailed, match="unexpected"):
        check.t5_attention(Biased)


def test_the_mixing_check_passes_the_reference_and_names_each_mistake(capsys):
    check.mixing_rates(t5_data.mixing_rates)
    assert capsys.readouterr().out.startswith("✅ mixing_rates")
    for mistake in MIXING_MISTAKES:
        with pytest.raises(check.CheckFailed) as failure:
            check.mixing_rates(mistake.wrong_implementation)
        assert mistake.hint in str(failure.value)


def test_the_mixing_check_wants_a_value_error_for_a_temperature_that_is_not_positive():
    def no_guard(sizes, cap=None, temperature=1.0):
        if temperature == 0:
            return {name: 1 / len(sizes) for name in sizes}
        return t5_data.mixing_rates(sizes, cap, temperature)

    with pytest.raises(check.CheckFailed, match="ValueError"):
        check.mixing_rates(no_guard)

    def wrong_keys(sizes, cap=None, temperature=1.0):
        return {f"task {name}": rate for name, rate in t5_data.mixing_rates(sizes).items()}

    with pytest.raises(check.CheckFailed, match="one entry per task"):
        check.mixing_rates(wrong_keys)


def test_the_kind_check_passes_the_reference_and_names_each_mistake(capsys):
    check.accuracy_by_kind(t5_training.accuracy_by_kind)
    assert capsys.readouterr().out.startswith("✅ accuracy_by_kind")
    for mistake in KIND_MISTAKES:
        with pytest.raises(check.CheckFailed) as failure:
            check.accuracy_by_kind(mistake.wrong_implementation)
        assert mistake.hint in str(failure.value)
    with pytest.raises(ValueError, match="answers for"):
        t5_training.accuracy_by_kind(["a"], [])
