"""The number/date translation data: deterministic, disjoint splits, padding, vocabulary; and the
translators' shared decoding and report (seq2seq), with the saved-results API they use."""

import os

import pytest
import torch

from course_lib.attention import AttentionSeq2SeqGRU
from course_lib.data import LengthGroupedBatches
from course_lib.machinery import results
from course_lib.multi_head_attention import MultiHeadAttentionSeq2SeqGRU
from course_lib.rnn import Seq2SeqGRU
from course_lib.seq2seq import TranslationReport, Translator, predict
from course_lib.training import TRANSLATION_RECIPE, History
from course_lib.transformer import TranslationTransformer
from course_lib.translation_data import (
    PAD_ID,
    Vocab,
    collate,
    detokenize,
    generate_pairs,
    load_number_translation,
    tokenize,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    os.environ["COURSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield load_number_translation(
            max_digits=12, train_size=600, validation_size=100, test_size=100
        )
    finally:
        del os.environ["COURSE_CACHE_DIR"]


def test_tokenize_and_detokenize_round_trip():
    text = "quatre-vingt-dix-sept mille, 2021"
    assert tokenize(text) == [
        "quatre",
        "-",
        "vingt",
        "-",
        "dix",
        "-",
        "sept",
        "mille",
        ",",
        "2",
        "0",
        "2",
        "1",
    ]
    assert detokenize(tokenize(text)) == text


def test_generation_is_deterministic_and_distinct():
    first = generate_pairs(300, max_digits=9, date_fraction=0.2, seed=3)
    assert first == generate_pairs(300, max_digits=9, date_fraction=0.2, seed=3)
    keys = [(example["kind"], example["key"]) for example in first]
    assert len(set(keys)) == len(keys)
    assert {"number", "date"} == {kind for kind, _ in keys}
    number = next(e for e in first if e["kind"] == "number")
    assert number["en"] and number["fr"] and number["en"] != number["fr"]


def test_splits_are_disjoint_and_sized(small):
    keys = {
        name: set(zip(small[name]["kind"], small[name]["key"], strict=True))
        for name in ("train", "validation", "test")
    }
    assert [len(keys[name]) for name in keys] == [600, 100, 100]
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]


def test_cached_load_gives_the_same_data(small):
    again = load_number_translation(
        max_digits=12, train_size=600, validation_size=100, test_size=100
    )
    assert again["test"]["en"] == small["test"]["en"]
    assert again.source_vocab.itos == small.source_vocab.itos


def test_unknown_split_and_bad_settings_are_explained(small):
    with pytest.raises(KeyError, match="unknown split 'dev'"):
        small.loader("dev")
    with pytest.raises(ValueError, match="max_digits"):
        load_number_translation(max_digits=40)


def test_batches_are_padded_with_lengths(small):
    batch = next(iter(small.loader("train", batch_size=16)))
    assert batch.source.shape[0] == 16 and batch.source_lengths.shape == (16,)
    for row, length in enumerate(batch.source_lengths.tolist()):
        assert (batch.source[row, :length] != PAD_ID).all()
        assert (batch.source[row, length:] == PAD_ID).all()
    vocab = small.target_vocab
    assert (batch.target_input[:, 0] == vocab.bos_id).all()
    # target_input is <bos> + target and target_output is target + <eos>: one shift apart
    lengths = (batch.target_output != PAD_ID).sum(1)
    words = (batch.target_output[:, :-1] != PAD_ID) & (batch.target_output[:, :-1] != vocab.eos_id)
    assert torch.equal(batch.target_input[:, 1:][words], batch.target_output[:, :-1][words])
    assert all(batch.target_output[row, lengths[row] - 1] == vocab.eos_id for row in range(16))


def test_collate_and_vocab():
    vocab = Vocab.build([["b", "a", "b"]])
    assert vocab.itos[4:] == ["b", "a"] and vocab.encode(["a", "zzz"]) == [5, vocab.unk_id]
    assert vocab.decode([1, 4, 5, 2, 4]) == ["b", "a"]
    batch = collate([([4], [5, 6]), ([4, 5, 6], [7])], pad_id=0, bos_id=1, eos_id=2)
    assert batch.source.tolist() == [[4, 0, 0], [4, 5, 6]]
    assert batch.target_input.tolist() == [[1, 5, 6], [1, 7, 0]]
    assert batch.target_output.tolist() == [[5, 6, 2], [7, 2, 0]]


def test_length_grouped_batches_cover_everything_once_and_group_lengths():
    lengths = [i % 37 + 1 for i in range(1000)]
    torch.manual_seed(0)
    batches = list(LengthGroupedBatches(lengths, batch_size=10))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 5  # random batches would spread over ~30
    torch.manual_seed(0)
    assert list(LengthGroupedBatches(lengths, batch_size=10)) == batches


def test_unshuffled_loader_limits_and_sorts_by_length(small):
    loader = small.loader("test", batch_size=7, shuffle=False, limit=30, sort_by_length=True)
    order = loader.batch_sampler.fixed_order()
    assert sorted(order) == list(range(30))
    lengths = [len(ids) for ids in small["test"]["source_ids"][:30]]
    assert [lengths[i] for i in order] == sorted(lengths)
    seen = [length for batch in loader for length in batch.source_lengths.tolist()]
    assert seen == sorted(lengths)


def test_predict_decodes_shortest_first_but_returns_the_split_order(small):
    torch.manual_seed(0)
    model = TranslationTransformer(
        len(small.source_vocab), len(small.target_vocab), d_model=16, num_heads=2, d_ff=32
    ).eval()
    sources, references, predictions = predict(model, small, "test", batch_size=1, limit=12)
    vocab = small.target_vocab
    for index in range(12):  # one sentence at a time, in the split's order
        example = small["test"][index]
        assert sources[index] == small.source_vocab.decode(example["source_ids"])
        assert references[index] == vocab.decode(example["target_ids"])
        source = torch.tensor([example["source_ids"]])
        ids = model.greedy_decode(
            source,
            torch.tensor([source.shape[1]]),
            len(example["target_ids"]) + 6,
            vocab.bos_id,
            vocab.eos_id,
        )
        assert predictions[index] == vocab.decode(ids[0].tolist())
    assert predict(model, small, "test", limit=0) == ([], [], [])


def test_reports_round_trip_through_the_results_api_with_their_training_summary(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    history = History(
        steps=[1, 2, 3, 4],
        losses=[1.0] * 4,
        seconds=2.0,
        evaluations=[
            {"step": 2, "validation exact match": 0.5},
            {"step": 4, "validation exact match": 0.97},
        ],
    )
    report = TranslationReport(0.9, 80.0, {"1-10": 1.0}, {"1-10": 5}, [("a", "b", "c")])
    results.save("model", report.to_dict(history), key=TRANSLATION_RECIPE)
    loaded = TranslationReport.from_dict(results.load("model", key=TRANSLATION_RECIPE))
    assert loaded.exact_match == 0.9 and loaded.examples == []
    assert loaded.training["steps_to_threshold"] == 4
    assert loaded.training["ms_per_step"] == pytest.approx(500.0)
    assert results.load("missing") is None
    other_recipe = {**TRANSLATION_RECIPE, "steps": 10}
    assert results.load("model", key=other_recipe) is None  # saved under another recipe


def test_headline_results_are_recorded_replaced_and_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    results.record("04", "translate", "exact match", 96.44, 0.0, "copy the input")
    results.record("04", "translate", "exact match", 97.0, 0.0, "copy the input")
    results.record("04", "beam", "exact match", 98.0, 0.0, "copy the input")
    assert [(row["task"], row["value"]) for row in results.recorded("04")] == [
        ("translate", 97.0),
        ("beam", 98.0),
    ]
    results.record("04", "seeds", "exact match", 90.0, 0.0, "copy the input", spread=1.5)
    assert (
        results.recorded("04")[-1]["spread"] == 1.5 and results.recorded("04")[0]["spread"] is None
    )
    results.forget("04")
    assert results.recorded("04") == [] and results.recorded("05") == []


@pytest.mark.parametrize(
    "kind",
    [Seq2SeqGRU, AttentionSeq2SeqGRU, MultiHeadAttentionSeq2SeqGRU, TranslationTransformer],
    ids=lambda kind: kind.__name__,
)
def test_every_translator_offers_the_translator_interface(kind):
    torch.manual_seed(0)
    model = kind(9, 11).eval()
    assert isinstance(model, Translator)
    source, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    target_input = torch.tensor([[1, 4, 5, 6], [1, 7, 0, 0]])
    assert model(source, lengths, target_input).shape == (2, 4, 11)
    ids = model.greedy_decode(source, lengths, max_len=5, bos_id=1, eos_id=2)
    assert ids.shape[0] == 2 and ids.shape[1] <= 5 and ids.dtype == torch.long
