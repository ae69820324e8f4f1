"""BERT (notebook 06): parity with `transformers` (copied weights, float32), masking and NSP
pairs, their checkers with planted mistakes, and the corpus/polarity data."""

import random

import pytest
import torch
import transformers
from tokenizers import Tokenizer

from course_lib import bert as bert_module
from course_lib import check
from course_lib.bert import Bert, BertClassifier, BertConfig, BertForPretraining, mean_pool
from course_lib.check.bert import (
    CLASSIFIER_MISTAKES,
    EMBEDDING_MISTAKES,
    HEADS_MISTAKES,
    MLM_LOSS_MISTAKES,
    PAIR_MISTAKES,
    POOL_MISTAKES,
)
from course_lib.data import IGNORE_INDEX as IGNORE
from course_lib.packages import minilm_folder
from course_lib.pretraining_data import (
    encode_pair,
    encode_sentences,
    load_polarity,
    mask_tokens,
    nsp_pair,
    split_sentences,
)

ATOL = 1e-5


def _small_config():
    return transformers.BertConfig(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def _inputs():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (3, 12), generator=generator)
    ids[:, 0] = 2
    ids[1, 9:] = 0  # padding
    segments = torch.zeros_like(ids)
    segments[:, 6:] = 1
    return ids, segments, ids != 0


def test_pretraining_heads_match_transformers_bert_for_pretraining():
    torch.manual_seed(0)
    theirs = transformers.BertForPreTraining(_small_config()).eval()
    ours = BertForPretraining(BertConfig.from_transformers(theirs.config))
    ours.load_from_transformers(theirs).eval()
    ids, segments, padding = _inputs()
    expected = theirs(input_ids=ids, token_type_ids=segments, attention_mask=padding.long())
    mlm, nsp = ours(ids, segments, padding)
    real = padding  # padded positions' outputs are not used by either model
    torch.testing.assert_close(mlm[real], expected.prediction_logits[real], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(nsp, expected.seq_relationship_logits, atol=ATOL, rtol=ATOL)
    # MLM scores at masked positions only are the same numbers
    masked = torch.zeros_like(padding)
    masked[:, 3] = True
    torch.testing.assert_close(ours(ids, segments, padding, masked)[0], mlm[masked])


def test_encoder_matches_transformers_bert_model():
    torch.manual_seed(1)
    theirs = transformers.BertModel(_small_config()).eval()
    ours = Bert(BertConfig.from_transformers(theirs.config)).load_from_transformers(theirs).eval()
    ids, segments, padding = _inputs()
    expected = theirs(input_ids=ids, token_type_ids=segments, attention_mask=padding.long())
    states, pooled = ours(ids, segments, padding)
    torch.testing.assert_close(
        states[padding], expected.last_hidden_state[padding], atol=ATOL, rtol=ATOL
    )
    torch.testing.assert_close(pooled, expected.pooler_output, atol=ATOL, rtol=ATOL)


def test_mask_tokens_reference_follows_the_recipe():
    ids = torch.randint(10, 500, (64, 64))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -5:] = True
    inputs, labels = mask_tokens(ids, special, 4, 500, torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    assert not (chosen & special).any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    assert abs(chosen.sum().item() / (~special).sum().item() - 0.15) < 0.02


def test_nsp_pair_reference():
    documents = [["a0", "a1", "a2"], ["b0", "b1"], ["c0", "c1", "c2"]]
    rng = random.Random(0)
    pairs = [nsp_pair(documents, 0, 1, rng) for _ in range(400)]
    assert all(a == "a1" for a, _, _ in pairs)
    assert all(b == "a2" for _, b, label in pairs if label == 0)
    assert all(b[0] != "a" for _, b, label in pairs if label == 1)
    assert 0.4 < sum(label == 0 for *_, label in pairs) / 400 < 0.6


def test_reference_functions_pass_their_checks(capsys):
    check.mask_tokens(mask_tokens)
    check.nsp_pair(nsp_pair)
    out = capsys.readouterr().out
    assert out.count("✅") == 2


def _masking(
    rate=0.15,
    mask_share=0.8,
    random_share=0.1,
    labels="chosen",
    specials=False,
    generator_used=True,
    fixed_mask_id=None,
):
    """mask_tokens with one knob turned."""

    def wrong(ids, special, mask_id, vocab_size, generator):
        g = generator if generator_used else None
        draw = lambda: torch.rand(ids.shape, generator=g)  # noqa: E731
        chosen = draw() < rate
        if not specials:
            chosen &= ~special
        second = draw()
        to_mask = chosen & (second < mask_share)
        to_random = chosen & (second >= mask_share) & (second < mask_share + random_share)
        inputs = torch.where(to_mask, torch.full_like(ids, fixed_mask_id or mask_id), ids)
        inputs = torch.where(to_random, torch.randint(vocab_size, ids.shape, generator=g), inputs)
        if labels == "chosen":
            out = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        elif labels == "everywhere":
            out = ids.clone()
        else:  # the masked inputs as labels
            out = torch.where(chosen, inputs, torch.full_like(ids, IGNORE))
        return inputs, out

    return wrong


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_masking(specials=True), "special tokens"),
        (_masking(rate=0.3), "chooses 15%"),
        (_masking(rate=0.12), "12%"),
        (_masking(mask_share=1.0, random_share=0.0), "every chosen token became [MASK]"),
        (_masking(mask_share=0.8, random_share=0.0), "random 10%"),
        (_masking(mask_share=0.5, random_share=0.25), "[MASK] 80%"),
        (_masking(labels="everywhere"), "only the chosen ones get"),
        (_masking(labels="inputs"), "ORIGINAL token"),
        (_masking(generator_used=False), "generator"),
        (_masking(fixed_mask_id=4), "mask_id"),
    ],
)
def test_mask_tokens_mistakes_are_named(wrong, message):
    with pytest.raises(check.CheckFailed) as failure:
        check.mask_tokens(wrong)
    assert message in str(failure.value)


def _pairs(
    next_share=0.5,
    same_document=False,
    inverted=False,
    use_global=False,
    first_sentence_only=False,
    a_is_next=False,
):
    def wrong(documents, document, sentence, rng):
        source = random if use_global else rng
        first = documents[document][sentence + 1 if a_is_next else sentence]
        if source.random() < next_share:
            return first, documents[document][sentence + 1], 1 if inverted else 0
        if same_document:
            return first, source.choice(documents[document]), 1
        other = source.choice([i for i in range(len(documents)) if i != document])
        b = documents[other][0] if first_sentence_only else source.choice(documents[other])
        return first, b, 0 if inverted else 1

    return wrong


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_pairs(next_share=1.0), "half of them"),
        (_pairs(next_share=0.2), "half of them"),
        (_pairs(same_document=True), "ANOTHER document"),
        (_pairs(inverted=True), "wrong way round"),
        (_pairs(use_global=True), "rng"),
        (_pairs(first_sentence_only=True), "AND the sentence at random"),
        (_pairs(a_is_next=True), "sentence A should be"),
    ],
)
def test_nsp_pair_mistakes_are_named(wrong, message):
    with pytest.raises(check.CheckFailed) as failure:
        check.nsp_pair(wrong)
    assert message in str(failure.value)


def test_course_bert_runs_the_real_minilm_checkpoint_like_transformers():
    folder = minilm_folder()
    theirs = transformers.BertModel.from_pretrained(folder).eval()
    ours = Bert(BertConfig.from_transformers(theirs.config)).load_from_transformers(theirs).eval()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids, padding = encode_sentences(
        tokenizer, ["A gripping, beautifully shot film.", "Dull.", "It never quite works."]
    )
    with torch.no_grad():
        states, pooled = ours(ids, padding=padding)
        expected = theirs(input_ids=ids, attention_mask=padding.long())
    # 6 layers of width 384: float32 rounding adds up, hence 1e-4
    torch.testing.assert_close(
        states[padding], expected.last_hidden_state[padding], atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-4, rtol=1e-4)


def test_polarity_folds_are_balanced_and_fixed():
    texts, labels, folds = load_polarity()
    assert len(texts) == 200 and sum(labels) == 100
    for fold in range(5):
        members = [label for label, f in zip(labels, folds, strict=True) if f == fold]
        assert len(members) == 40 and sum(members) == 20
    assert load_polarity()[2] == folds


def test_split_sentences():
    assert split_sentences(
        "It rained all day. Then the sun came out! Was it over? Yes it was."
    ) == [
        "It rained all day.",
        "Then the sun came out!",
        "Was it over?",
        "Yes it was.",
    ]


def test_mean_pool_reference_passes_and_planted_mistakes_are_named(capsys):
    check.mean_pool(mean_pool)
    assert capsys.readouterr().out.startswith("✅ mean_pool")
    for mistake in POOL_MISTAKES:
        with pytest.raises(check.CheckFailed) as failure:
            check.mean_pool(mistake.wrong_implementation)
        assert mistake.hint in str(failure.value)


def _fixed_rule_masking(ids, special, mask_id, vocab_size, generator):
    columns = torch.arange(ids.shape[1]).expand_as(ids)
    chosen = (columns % 7 == 3) & ~special
    draw = torch.rand(ids.shape, generator=generator)
    inputs = torch.where(chosen & (draw < 0.8), torch.full_like(ids, mask_id), ids)
    random_tokens = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (draw >= 0.8) & (draw < 0.9), random_tokens, inputs)
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))


def _token_dependent_replacement(ids, special, mask_id, vocab_size, generator):
    inputs, labels = mask_tokens(ids, special, mask_id, vocab_size, generator)
    replaced = (labels != IGNORE) & (inputs != mask_id) & (inputs != ids)
    return torch.where(replaced, (ids + 1) % vocab_size, inputs), labels


def _own_seed(ids, special, mask_id, vocab_size, generator):
    return mask_tokens(ids, special, mask_id, vocab_size, torch.Generator().manual_seed(42))


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_fixed_rule_masking, "in common"),
        (_token_dependent_replacement, "same whatever the seed"),
        (_own_seed, "in common"),
    ],
    ids=["fixed-rule", "replacement-from-token", "own-seed"],
)
def test_mask_tokens_that_ignore_the_generator_are_caught(wrong, message):
    with pytest.raises(check.CheckFailed, match=message):
        check.mask_tokens(wrong)


def _rule_label(documents, document, sentence, rng):
    if (document + sentence) % 2 == 0:
        return documents[document][sentence], documents[document][sentence + 1], 0
    other = (document + 1) % len(documents)
    return documents[document][sentence], rng.choice(documents[other]), 1


def _next_document(documents, document, sentence, rng):
    if rng.random() < 0.5:
        return documents[document][sentence], documents[document][sentence + 1], 0
    other = (document + 1) % len(documents)
    return documents[document][sentence], rng.choice(documents[other]), 1


def _tensor_label(documents, document, sentence, rng):
    a, b, label = nsp_pair(documents, document, sentence, rng)
    return a, b, torch.tensor(label)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_rule_label, "about half"),
        (_next_document, "at random"),
        (_tensor_label, "integer 0"),
    ],
    ids=["label-by-rule", "always-the-next-document", "tensor-label"],
)
def test_nsp_pairs_decided_by_rules_are_caught(wrong, message):
    with pytest.raises(check.CheckFailed, match=message):
        check.nsp_pair(wrong)


def test_nsp_check_leaves_the_global_random_state_alone():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    check.nsp_pair(nsp_pair)
    # the check draws nothing from the global generator it does not put back
    assert random.random() == expected


def test_nsp_pair_refuses_a_sentence_without_a_successor():
    with pytest.raises(ValueError, match="no next sentence"):
        nsp_pair([["a", "b"], ["c"]], 0, 1, random.Random(0))


def test_mean_pooling_classifier_and_tokenizer_settings_are_kept():
    tokenizer = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    before = (tokenizer.padding, tokenizer.truncation)
    ids, padding = encode_sentences(tokenizer, ["short", "a somewhat longer sentence"], max_len=8)
    assert (tokenizer.padding, tokenizer.truncation) == before
    assert ids.shape[1] <= 8 and padding[0].sum() < padding[1].sum()
    torch.manual_seed(0)
    model = BertClassifier(
        Bert(BertConfig(vocab_size=30522, hidden=16, layers=1, heads=2, d_ff=32, dropout=0.0)),
        2,
        pooling="mean",
    ).eval()
    # padding does not change a sentence's scores
    alone = model(ids[:1, : int(padding[0].sum())])
    torch.testing.assert_close(model(ids[:1], padding=padding[:1]), alone)


def test_course_embeddings_equal_transformers_bert_embeddings():
    config = _small_config()
    theirs = transformers.models.bert.modeling_bert.BertEmbeddings(config).eval()
    ours = bert_module.BertEmbeddings(BertConfig.from_transformers(config)).eval()
    with torch.no_grad():
        ours.tokens.weight.copy_(theirs.word_embeddings.weight)
        ours.segments.weight.copy_(theirs.token_type_embeddings.weight)
        ours.positions.weight.copy_(theirs.position_embeddings.weight)
        ours.norm.load_state_dict(theirs.LayerNorm.state_dict())
    ids, segments = torch.randint(5, 60, (2, 9)), torch.tensor([[0] * 4 + [1] * 5] * 2)
    expected = theirs(input_ids=ids, token_type_ids=segments)
    torch.testing.assert_close(ours(ids, segments), expected, atol=ATOL, rtol=ATOL)


def test_encode_pair_is_the_tokenizers_pair_encoding():
    minilm = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    minilm.no_padding()
    for first, second in [("The war lasted ten years.", "Troy fell."), ("Dull.", "A, b; c!")]:
        encoding = minilm.encode(first, second)
        assert encode_pair(minilm, first, second) == (encoding.ids, encoding.type_ids)


def test_masked_lm_loss_is_cross_entropy_over_the_masked_positions():
    scores, labels = torch.randn(2, 5, 7), torch.randint(7, (2, 5))
    labels[0, :3] = IGNORE
    expected = torch.nn.functional.cross_entropy(scores.transpose(1, 2), labels)  # ignores -100
    torch.testing.assert_close(bert_module.masked_lm_loss(scores, labels), expected)


def test_the_new_bert_checks_pass_the_references(capsys):
    check.encode_pair(encode_pair)
    check.bert_embeddings(bert_module.BertEmbeddings)
    check.masked_lm_loss(bert_module.masked_lm_loss)
    check.bert_for_pretraining(bert_module.BertForPretraining)
    check.bert_classifier(bert_module.BertClassifier)
    assert capsys.readouterr().out.count("✅") == 5


@pytest.mark.parametrize(
    "checker, mistake",
    [(check.encode_pair, m) for m in PAIR_MISTAKES]
    + [(check.bert_embeddings, m) for m in EMBEDDING_MISTAKES]
    + [(check.masked_lm_loss, m) for m in MLM_LOSS_MISTAKES]
    + [(check.bert_for_pretraining, m) for m in HEADS_MISTAKES]
    + [(check.bert_classifier, m) for m in CLASSIFIER_MISTAKES],
    ids=lambda value: getattr(value, "hint", "")[:40] or getattr(value, "__name__", ""),
)
def test_the_new_bert_mistakes_get_their_hint(checker, mistake):
    with pytest.raises(check.CheckFailed) as failure:
        checker(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_untied_mlm_scores_are_refused():
    class Untied(bert_module.BertForPretraining):
        def __init__(self, config):
            super().__init__(config)
            self.register_buffer("frozen", self.bert.embeddings.tokens.weight.detach().clone())

        def mlm_scores(self, states):
            return self.mlm_transform(states) @ self.frozen.T + self.mlm_bias

    class Renamed(Untied):  # the same, with the buffer kept out of the state dict
        def __init__(self, config):
            super().__init__(config)
            frozen = self.frozen
            del self.frozen
            self.register_buffer("frozen", frozen, persistent=False)

    with pytest.raises(check.CheckFailed, match="tied weights"):
        check.bert_for_pretraining(Renamed)


def test_attention_maps_of_the_encoder_ignore_padding_and_sum_to_one():
    torch.manual_seed(0)
    encoder = bert_module.Bert(
        bert_module.BertConfig(vocab_size=30, hidden=16, layers=2, heads=2, d_ff=32)
    )
    encoder.eval()
    ids = torch.randint(5, 30, (2, 6))
    padding = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    maps = bert_module.attention_maps(encoder, ids, padding)
    assert maps.shape == (2, 2, 2, 6, 6)  # (layers, batch, heads, seq, seq)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 2, 6))
    assert maps[:, 1, :, :, 4:].abs().max() == 0  # nobody looks at the second sentence's padding


def test_to_transformers_gives_the_same_masked_lm_scores_and_reloads(tmp_path):
    torch.manual_seed(0)
    config = bert_module.BertConfig(
        vocab_size=40, hidden=16, layers=2, heads=2, d_ff=32, max_len=16, dropout=0.0
    )
    model = bert_module.BertForPretraining(config).eval()
    with torch.no_grad():
        model.mlm_bias.normal_()  # a non-zero bias, so that copying it is tested
    theirs = bert_module.to_transformers(model)
    ids = torch.randint(5, 40, (2, 7))
    segments = torch.tensor([[0] * 4 + [1] * 3, [0] * 7])
    expected = model(ids, segments)[0]
    torch.testing.assert_close(
        theirs(input_ids=ids, token_type_ids=segments).logits, expected, atol=1e-5, rtol=0
    )
    theirs.save_pretrained(tmp_path)
    reloaded = transformers.BertForMaskedLM.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(
        reloaded(input_ids=ids, token_type_ids=segments).logits, expected, atol=1e-5, rtol=0
    )


def test_save_and_load_model_need_the_same_vocabulary(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    model = bert_module.BertForPretraining(
        bert_module.BertConfig(vocab_size=7, hidden=8, layers=1, heads=2, d_ff=16, max_len=8)
    )
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]
    bert_module.save_model(model, "tiny", vocabulary)
    loaded = bert_module.load_model("tiny", vocabulary)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    assert bert_module.load_model("tiny", [*vocabulary[:-1], "c"]) is None
