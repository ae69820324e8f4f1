"""The plumbing every dataset shares (course_lib.data, course_lib.packages), and tokenizers that
come out the same on every build."""

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import torch

from course_lib import packages
from course_lib.data import cached_build, hash_split, pad, stable_hash
from course_lib.pretraining_data import _train_wordpiece, wordpiece_vocabulary
from course_lib.t5_data import _train_unigram


def test_cached_build_builds_once_per_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "data.txt").write_text("built")

    first = cached_build("toy", {"size": 3}, build)
    again = cached_build("toy", {"size": 3}, build)
    other = cached_build("toy", {"size": 4}, build)
    assert first == again != other and len(builds) == 2
    assert (first / "data.txt").read_text() == "built"
    assert first.parent == tmp_path / "datasets"
    umask = os.umask(0)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o777 & ~umask  # a shared cache stays readable


def test_an_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))

    def failing(folder):
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_build("toy", {}, failing)
    assert list((tmp_path / "datasets").iterdir()) == []
    folder = cached_build("toy", {}, lambda folder: (folder / "whole.txt").write_text("whole"))
    assert [path.name for path in folder.iterdir()] == ["whole.txt"]


def test_hash_split_is_stable_and_near_its_proportions():
    keys = [f"example {index}" for index in range(5000)]
    splits = Counter(hash_split(key, test=1, validation=1) for key in keys)
    assert abs(splits["test"] - 500) < 80 and abs(splits["validation"] - 500) < 80
    assert hash_split("a key", test=10, validation=10, buckets=100) == hash_split(
        "a key", test=10, validation=10, buckets=100
    )
    assert {hash_split(key, test=0, validation=1) for key in keys} == {"train", "validation"}
    assert stable_hash("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # SHA-1, any machine


def test_pad_puts_each_sequence_at_the_start_of_its_row():
    assert pad([[5, 6, 7], [8]], value=0).tolist() == [[5, 6, 7], [8, 0, 0]]
    assert pad([[1], [2, 3]], value=-100).tolist() == [[1, -100], [2, 3]]
    assert pad([[4]], value=0).dtype == torch.long


def test_wordpiece_merges_the_most_frequent_pair_and_breaks_ties_by_spelling():
    words = Counter({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    vocabulary = wordpiece_vocabulary(words, vocab_size=24, specials=("[PAD]", "[UNK]"))
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    letters = vocabulary[2 : vocabulary.index("##es")]
    assert letters == sorted(letters) and "l" in letters and "##o" in letters
    # ##e ##s and ##s ##t both occur 9 times: ##es comes first by spelling, then ##est
    assert vocabulary[vocabulary.index("##es") :][:2] == ["##es", "##est"]
    assert wordpiece_vocabulary(words, 24, ("[PAD]", "[UNK]")) == vocabulary


TEXTS = [
    f"The {animal} of {place} sat on the {thing} in {year}."
    for animal in ("cat", "dog", "heron", "lynx", "otter")
    for place in ("Paris", "Rome", "Ghent", "Oslo")
    for thing in ("mat", "bench", "quay", "wall")
    for year in ("1906", "1984")
]
BUILD_BOTH = """
import hashlib, json, sys
from course_lib.pretraining_data import _train_wordpiece
from course_lib.t5_data import _train_unigram
texts = json.load(sys.stdin)
for tokenizer in (_train_wordpiece(texts, 120), _train_unigram(texts, 100)):
    print(hashlib.sha1(tokenizer.to_str().encode()).hexdigest())
"""


def test_the_course_tokenizers_come_out_the_same_in_every_build_and_process():
    """Hugging Face's trainers order (and, for WordPiece, break ties) by hash tables whose keys
    are drawn anew for each table and each process: every build must still agree."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", BUILD_BOTH],
            input=json.dumps(TEXTS),
            capture_output=True,
            text=True,
        )
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    here = [_train_wordpiece(TEXTS, 120).to_str(), _train_unigram(TEXTS, 100).to_str()]
    assert (
        runs[0].stdout
        == runs[1].stdout
        == "".join(hashlib.sha1(text.encode()).hexdigest() + "\n" for text in here)
    )
    tokenizer = _train_wordpiece(TEXTS, 120)
    encoded = tokenizer.encode("The heron of Ghent", "sat.")
    assert encoded.tokens[0] == "[CLS]" and encoded.tokens.count("[SEP]") == 2
    assert encoded.type_ids[-1] == 1 and tokenizer.token_to_id("[MASK]") == 4


def test_a_missing_library_names_the_install_command():
    absent = packages.lazy("a_package_that_is_not_installed", "a-package==1.0")
    assert "not imported yet" in repr(absent)
    assert not hasattr(absent, "__wrapped__")  # introspection imports nothing, raises nothing
    assert copy.copy(absent) is not None
    with pytest.raises(packages.MissingPackageError, match="pip install a-package==1.0"):
        _ = absent.anything
    with pytest.raises(packages.MissingPackageError, match="requirements.txt"):
        packages.package_folder("a_package_that_is_not_installed", "a-package==1.0")


def test_package_files_are_found_without_importing_the_package():
    script = (
        "import sys\nfrom course_lib import packages\n"
        "print(packages.gensim_test_data('questions-words.txt').parent.name)\n"
        "print('gensim' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.stdout.split() == ["test_data", "False"], run.stderr
    assert (packages.minilm_folder() / "config.json").exists()
    with pytest.raises(FileNotFoundError, match="missing from gensim's test data"):
        packages.gensim_test_data("no_such_file.txt")
