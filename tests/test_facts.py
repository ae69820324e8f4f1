"""Notebook 06's facts experiment: the facts corpus and its held-out sentences, the masking that
hides whole facts, the verification pairs (no candidate gives the label away, no test country in
fine-tuning), the MLM-only and sentence-pair losses, and a short pretraining that learns."""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from course_lib import bert, bert_training
from course_lib import facts_data as facts
from course_lib.data import IGNORE_INDEX


@pytest.fixture(scope="module")
def world():
    return facts.load_facts_corpus()


def test_the_facts_are_real_and_lower_case(world):
    known = set(world.facts)
    assert facts.Fact("japan", "capital", "tokyo") in known
    assert facts.Fact("japan", "currency", "yen") in known
    assert facts.Fact("france", "language", "french") in known
    assert len(world.countries()) == 116
    assert all(fact.value == fact.value.lower() and " " not in fact.value for fact in world.facts)
    # one fact per (country, relation)
    assert len({(f.country, f.relation) for f in world.facts}) == len(world.facts)


def test_each_fact_has_one_held_out_sentence_never_in_the_pretraining_text(world):
    assert len(world.held_out) == len(world.facts)
    assert len(world.sentences) == 3 * len(world.facts)
    pretraining = {" ".join(words) for words, _, _ in world.sentences}
    for (words, country, value), fact in zip(world.held_out, world.facts, strict=True):
        assert " ".join(words) not in pretraining
        assert (words[country], words[value]) == (fact.country, fact.value)
    # every word of a held-out sentence is in the vocabulary: no [UNK]
    assert facts.UNK_ID not in {i for w, _, _ in world.held_out for i in world.encode(w)}


def test_fill_in_queries_hide_the_value(world):
    (words, answer), *_ = facts.fill_in_queries(world.held_out[:1])
    assert answer == world.facts[0].value
    assert words.count("[MASK]") == 1 and answer not in words


def test_masking_hides_whole_facts_and_keeps_the_rest(world):
    generator = torch.Generator().manual_seed(0)
    rows = world.sentences[:512]
    batch = facts.mask_facts(world, rows, generator)
    hidden_values = hidden_countries = 0
    for row, (words, country, value) in enumerate(rows):
        labels = batch.labels[row]
        ids = torch.tensor(world.encode(words))
        chosen = (labels != IGNORE_INDEX).nonzero().flatten().tolist()
        if chosen == [1 + value] and batch.inputs[row, 1 + value] == facts.MASK_ID:
            hidden_values += 1
        elif chosen == [1 + country] and batch.inputs[row, 1 + country] == facts.MASK_ID:
            hidden_countries += 1
        # labels are the original words wherever something was chosen
        for position in chosen:
            assert labels[position] == ids[position - 1]
    # about half hide the value, 15% the country (binomial, n = 512: ±5 standard deviations)
    assert 0.39 < hidden_values / 512 < 0.61
    assert 0.07 < hidden_countries / 512 < 0.25
    assert (batch.segments == 0).all()
    assert batch.padding.sum(1).tolist() == [len(w) + 2 for w, _, _ in rows]


def test_verification_pairs_need_two_countries(world):
    with pytest.raises(ValueError, match="at least two countries"):
        facts.verification_examples(world, ["japan"])


def test_verification_pairs_are_balanced_and_split_by_country(world):
    tune, test = facts.split_countries(world)
    assert not set(tune) & set(test) and len(tune) + len(test) == 116
    examples = facts.verification_examples(world, test, seed=1)
    assert Counter(label for *_, label in examples) == {
        0: len(examples) // 2,
        1: len(examples) // 2,
    }
    true_values = {(f.country, f.relation): f.value for f in world.facts}
    test_values = {f.value for f in world.facts if f.country in test}
    for question, candidate, label in examples:
        assert question[-1] in test
        relation = next(r for r, q in facts.QUESTIONS.items() if q.split()[:-1] == question[:-1])
        assert (candidate == true_values[(question[-1], relation)]) == bool(label)
        assert candidate in test_values  # wrong candidates come from the same split's answers


def test_encoded_pairs_have_segments_zero_then_one(world):
    batch = facts.encode_examples(world, [(["the", "capital", "of", "japan"], "tokyo", 1)])
    assert world.decode(batch.ids[0].tolist()) == [
        "[CLS]", "the", "capital", "of", "japan", "[SEP]", "tokyo", "[SEP]"]  # fmt: skip
    assert batch.segments[0].tolist() == [0] * 6 + [1] * 2
    assert batch.labels.tolist() == [1]


def test_minilm_reads_the_same_pairs_as_text():
    encoder, tokenizer = bert.load_minilm()
    batch = facts.encode_examples_with(tokenizer, [(["the", "capital", "of", "japan"], "tokyo", 0)])
    tokens = [tokenizer.id_to_token(i) for i in batch.ids[0].tolist()]
    assert tokens == ["[CLS]", "the", "capital", "of", "japan", "[SEP]", "tokyo", "[SEP]"]
    assert batch.segments[0].tolist() == [0] * 6 + [1] * 2
    assert encoder.config.hidden == 384


def test_mlm_loss_is_the_masked_lm_loss_of_the_model(world):
    torch.manual_seed(0)
    config = bert.BertConfig(vocab_size=world.vocab_size, hidden=32, layers=1, heads=2, d_ff=64,
                             max_len=32, dropout=0.0)  # fmt: skip
    model = bert.BertForPretraining(config).eval()
    batch = facts.mask_facts(world, world.sentences[:8], torch.Generator().manual_seed(1))
    scores, _ = model(batch.inputs, batch.segments, batch.padding)
    expected = bert.masked_lm_loss(scores, batch.labels)
    assert torch.allclose(bert.mlm_loss(model, batch), expected, atol=1e-5)


def test_pair_classification_loss_passes_the_segments(world):
    torch.manual_seed(0)
    config = bert.BertConfig(vocab_size=world.vocab_size, hidden=32, layers=1, heads=2, d_ff=64,
                             max_len=32, dropout=0.0)  # fmt: skip
    classifier = bert.BertClassifier(bert.Bert(config), 2, dropout=0.0)
    with torch.no_grad():  # make segment embeddings matter
        classifier.bert.embeddings.segments.weight[1] += 1.0
    batch = facts.encode_examples(world, facts.verification_examples(world, ["japan", "france"]))
    scores = classifier(batch.ids, batch.segments, batch.padding)
    expected = F.cross_entropy(scores, batch.labels)
    assert torch.allclose(bert.pair_classification_loss(classifier, batch), expected)
    assert not torch.allclose(scores, classifier(batch.ids, padding=batch.padding))


def test_fill_in_lists_top_guesses_best_first(world):
    torch.manual_seed(0)
    config = bert.BertConfig(vocab_size=world.vocab_size, hidden=32, layers=1, heads=2, d_ff=64,
                             max_len=32, dropout=0.0)  # fmt: skip
    model = bert.BertForPretraining(config)
    queries = facts.fill_in_queries(world.held_out[:3])
    guesses = bert_training.fill_in(model, world, queries, top=4)
    assert [len(g) for g in guesses] == [4, 4, 4]
    ids = torch.tensor([[facts.CLS_ID, *world.encode(queries[0][0]), facts.SEP_ID]])
    with torch.no_grad():
        scores, _ = model.eval()(ids)
    best = scores[ids == facts.MASK_ID][0].argmax().item()
    assert guesses[0][0] == world.vocabulary[best]


@pytest.mark.slow
def test_a_short_pretraining_fills_in_held_out_facts(world):
    """600 steps of notebook 06's model (half a minute; 45% measured here): the held-out fill-in
    accuracy is more than twice the most-frequent-answer baseline (11%)."""
    torch.manual_seed(0)
    config = bert.BertConfig(vocab_size=world.vocab_size, hidden=128, layers=2, heads=4, d_ff=512,
                             max_len=32, dropout=0.0)  # fmt: skip
    model = bert.BertForPretraining(config)
    history = bert_training.pretrain_on_facts(
        model, world, steps=600, warmup_steps=60, eval_every=600, device="cpu"
    )
    assert history.last_evaluation["held-out fill-in accuracy"] > 0.25
