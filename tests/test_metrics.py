"""The scores and their trivial baselines (course_lib.metrics), on hand-made cases whose answers
are known, and against the libraries they wrap."""

import numpy as np
import pytest
import sacrebleu
import transformers

from course_lib import metrics


def test_accuracy_and_exact_match_count_whole_answers():
    assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert metrics.exact_match([["a", "b"], ["c"]], [["a", "b"], ["c", "d"]]) == 0.5
    assert metrics.accuracy([], []) == 0.0
    with pytest.raises(ValueError):  # a prediction without a reference is a bug, not a zero
        metrics.accuracy([1, 2], [1])


def test_bleu_is_sacrebleus_corpus_bleu():
    hypotheses = ["the cat sat on the mat", "a dog barked"]
    references = ["the cat sat on a mat", "a dog barked loudly"]
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert metrics.bleu(hypotheses, references) == pytest.approx(expected)
    assert metrics.bleu(references, references) == pytest.approx(100.0)


def test_rouge_is_100_for_a_copy_and_0_for_no_shared_word():
    same = metrics.rouge(["returns the sum"], ["returns the sum"])
    assert same == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert metrics.rouge(["cats"], ["dogs"])["rouge1"] == 0.0
    half = metrics.rouge(["return the value", "xyz"], ["return the value", "abc"])
    assert half["rouge1"] == pytest.approx(50.0)


def test_pearson_matches_numpy_and_is_zero_for_a_constant():
    xs, ys = [1.0, 2.0, 4.0, 3.0], [2.0, 2.5, 5.0, 2.0]
    assert metrics.pearson(xs, ys) == pytest.approx(np.corrcoef(xs, ys)[0, 1])
    assert metrics.pearson([3.0] * 4, ys) == 0.0


def test_mean_and_std_use_the_sample_standard_deviation():
    assert metrics.mean_and_std([0.7, 0.8, 0.9]) == "80.0 ± 10.0%"
    assert metrics.mean_and_std([0.5]) == "50.0 ± 0.0%"


def test_baselines():
    assert metrics.copy_baseline(["un", "deux"], ["un", "two"]) == 0.5
    assert metrics.first_words("Return the value of x now.", 3) == "Return the value"
    assert metrics.most_common(["b", "a", "b"]) == "b"
    assert metrics.majority_share([0, 1, 1, 1]) == 0.75


def test_trainer_metrics_read_an_eval_prediction_and_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for size in (1, 7, 50):
        logits, labels = rng.normal(size=(size, 2)), rng.integers(0, 2, size)
        got = metrics.trainer_metrics(transformers.EvalPrediction(logits, labels))
        predicted = logits.argmax(-1)
        assert got == {
            "accuracy": pytest.approx(sklearn_metrics.accuracy_score(labels, predicted)),
            "f1": pytest.approx(sklearn_metrics.f1_score(labels, predicted, zero_division=0)),
        }
        assert all(type(value) is float for value in got.values())
    nothing_positive = transformers.EvalPrediction(np.array([[1.0, 0.0]] * 3), np.array([0, 0, 1]))
    assert metrics.trainer_metrics(nothing_positive) == {"accuracy": pytest.approx(2 / 3), "f1": 0}
    logits_and_more = (np.array([[0.0, 1.0]]), np.zeros((1, 4)))
    as_tuple = transformers.EvalPrediction(logits_and_more, np.array([1]))
    assert metrics.trainer_metrics(as_tuple) == {"accuracy": 1.0, "f1": 1.0}
