"""What every dataset of the course shares: the cache, stable splits, padding, length-grouped
batches, and the label value losses skip.

The task modules (`translation_data`, `summarization_data`, `pretraining_data`, `t5_data`) build
their examples from installed packages; this module holds the plumbing they have in common, so
that each of them reads as the story of its own data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

IGNORE_INDEX = -100  # the label of positions a loss skips (F.cross_entropy's default ignore_index)
CACHE_ENV_VAR = "COURSE_CACHE_DIR"  # where to cache, instead of .course_cache/ in the repository


def cache_dir() -> Path:
    """Where built datasets, tokenizers and saved results are kept between notebooks.

    `.course_cache/` in the repository (git ignores it), or COURSE_CACHE_DIR if set. Deleting it
    is always safe: everything in it is rebuilt on demand.
    """
    default = Path(__file__).resolve().parent.parent / ".course_cache"
    return Path(os.environ.get(CACHE_ENV_VAR) or default)


def save_checkpoint(name: str, model: torch.nn.Module, config: dict, data_version) -> None:
    """Keep a trained model for a later notebook, in the course cache (`name`.pt): its weights
    (on the CPU), the settings that rebuild it, and the version of the data it was trained on."""
    checkpoint = {
        "config": config,
        "data_version": data_version,
        "state": {key: value.cpu() for key, value in model.state_dict().items()},
    }
    cache_dir().mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, cache_dir() / f"{name}.pt")


def load_checkpoint(name: str, data_version) -> dict | None:
    """{"config": ..., "state": ...} kept by `save_checkpoint`, or None when there is none for
    this version of the data (the notebook that trains it has not run since the data changed)."""
    path = cache_dir() / f"{name}.pt"
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("data_version") != data_version:
        return None
    return checkpoint


def stable_hash(text: str) -> str:
    """The SHA-1 of `text` in hex: the same on every machine and in every run (Python's own
    `hash` of a string changes from one run to the next)."""
    return hashlib.sha1(text.encode()).hexdigest()


def hash_split(key: str, *, test: int, validation: int, buckets: int = 10) -> str:
    """ "train", "validation" or "test" for `key`, from its hash: of `buckets` equal buckets,
    `test` go to test and the next `validation` to validation. The same key always lands in the
    same split, whatever else the data holds: adding examples never moves old ones."""
    bucket = int(stable_hash(key), 16) % buckets
    return "test" if bucket < test else "validation" if bucket < test + validation else "train"


def cached_build(name: str, settings: dict, build: Callable[[Path], None]) -> Path:
    """The cache folder of a dataset `name` built with `settings` (JSON-able), made on first use
    by `build(folder)`, which writes the dataset's files into `folder`.

    The folder is named after a hash of the settings, so changing a setting builds anew. `build`
    writes into a temporary folder that is renamed into place only when it has finished: an
    interrupted build never leaves a half-written dataset behind.
    """
    digest = stable_hash(json.dumps(settings, sort_keys=True))[:12]
    folder = cache_dir() / "datasets" / f"{name}-{digest}"
    if folder.is_dir():
        return folder
    partial = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:12]}")  # hidden until done
    partial.mkdir(parents=True)  # with the user's umask: a shared cache stays readable
    try:
        build(partial)
        partial.rename(folder)
    except OSError:
        if not folder.is_dir():  # not just another process finishing the same build first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def pad(sequences: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Sequences of ids -> a long tensor (len(sequences), longest): each sequence at the start
    of its row, the rest of the row filled with `value` (padding on the right).

    >>> pad([[5, 6, 7], [8]], value=0)
    tensor([[5, 6, 7],
            [8, 0, 0]])
    """
    longest = max((len(sequence) for sequence in sequences), default=0)
    padded = torch.full((len(sequences), longest), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return padded


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Batches of examples with similar lengths, so that little compute goes to padding.

    Each epoch: shuffle all indices, cut them into pools of `pool_batches` batches, sort each
    pool by length, cut it into batches, and shuffle the batches. The shuffle is drawn from
    torch's global random generator, so `course_lib.setup(seed)` makes it reproducible.

    Without `shuffle` (evaluation) the order is fixed: the examples in their order, or, with
    `sort_by_length`, shortest first (`fixed_order()` says which), so that a decoding loop can stop
    early on batches of short sentences.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        pool_batches: int = 50,
        sort_by_length: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.lengths, self.batch_size = list(lengths), batch_size
        self.shuffle, self.pool_size = shuffle, batch_size * pool_batches
        self.sort_by_length = sort_by_length

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def fixed_order(self) -> list[int]:
        """The example indices in the order the unshuffled batches visit them."""
        order = list(range(len(self.lengths)))
        return sorted(order, key=self.lengths.__getitem__) if self.sort_by_length else order

    def __iter__(self):
        if not self.shuffle:  # fixed order, for evaluation
            order = self.fixed_order()
            yield from (
                order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)
            )
            return
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), self.pool_size):
            pool = sorted(order[start : start + self.pool_size], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for position in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[position]
