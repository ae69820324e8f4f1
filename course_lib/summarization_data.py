"""Docstring summarisation: a function's name and description -> its one-line summary (notebook 05).

Dataset card
------------
- **Source**: the docstrings of Python's standard library and of the pinned `torch` and `numpy`
  packages installed by the course's setup command (PSF licence, BSD-3-Clause, BSD-3-Clause).
  The files are parsed with `ast`, never imported, and nothing is downloaded.
- **Example**: article "Set._hash(): Note that we don't define __hash__: not all sets are
  hashable. But if you define a hashable set type, its __hash__ should call this function. ..."
  -> summary "Compute the hash value of a set."
- **Derivation**: a docstring whose first paragraph is a short sentence (at most 3 lines, 4 to
  40 words) and which goes on with a description gives one pair: the summary is that first
  paragraph; the description is what follows, up to the first section (`Args:`, `Parameters`,
  `Example`, `>>>`, `.. note::`, ...), with reStructuredText roles such as :func:`x` reduced to
  x. torch's C functions count too: their documentation is attached with `add_docstr(...)`
  calls, whose string argument is read the same way. Descriptions of fewer than 12 words are
  dropped, long ones are cut to 200 words. Pairs are de-duplicated by description (torch
  documents many functions twice) and go to train (80%), validation (10%) or test (10%) by a
  hash of the summary, so that pairs sharing a summary share a split. Pairs whose text contains
  a special token's spelling (<pad>, <sep>, <eos>) are left out.
- **Article**: what the model reads is the name, then the description: "name: description". The
  name is the last two parts of the qualified name with the argument names ("JSONDecoder.
  decode(s)", "functools.reduce(function, sequence, initial)", torch's C functions from the
  signature their documentation starts with, "torch.abs(input, *, out)"), because a summary
  often says what only the name tells ("Stop the event loop as soon as reasonable." for
  AbstractEventLoop.stop(), whose description never says "stop"). The columns are name,
  description, article, summary, where (source:file:qualified name).
- **Tokens**: articles are cut to 32 tokens (the name and the description's first sentence or
  two, where a summary mostly comes from: on the validation split a model reading 32 tokens
  scored 22.8 ROUGE-1, reading 64 19.6 and 128 18.2) and summaries to 32 (about one in
  fifteen), then <eos> is added; so a few targets end mid-sentence.
- **Size** (Python 3.11.7, torch 2.13.0+cpu, numpy 2.4.6): 5,985 pairs (4,861 train, 575
  validation, 549 test); medians of 9 words per summary and 33 per description. Other versions
  of Python or the packages give a slightly different set: the versions are part of the cache
  key and printed by `describe()`. Even with the same versions, a pair can move between
  splits from one machine to another (CI once counted 4,862 train and 548 test): the notebooks
  print these sizes but nbval does not compare them.
- **Why this task**: real, human-written abstractive summaries of real text, offline. The
  summaries are short and the vocabulary technical, so a tiny model learns the style ("Return
  the ...") long before it learns the content: notebooks 05 and 05b measure that honestly.
- **Tokenizer**: byte-level BPE (8,000 tokens, trained on the train split with Hugging Face
  `tokenizers`), with the special tokens <pad> (id 0), <sep> (1) and <eos> (2).

Built on first use (about 40 seconds: parsing several thousand files) and cached
(`data.cached_build`).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy
import torch
from torch.utils.data import DataLoader

from . import packages
from .data import LengthGroupedBatches, cached_build, hash_split, pad

datasets = packages.lazy("datasets", "datasets==5.2.0")
tokenizers = packages.lazy("tokenizers", "tokenizers==0.23.3")

PAD, SEP, EOS = "<pad>", "<sep>", "<eos>"
PAD_ID, SEP_ID, EOS_ID = 0, 1, 2
SPLITS = ("train", "validation", "test")
SOURCES = ("stdlib", "torch", "numpy")
DATASET_VERSION = 4  # bump when the extraction changes, so old caches are not reused

# A paragraph that starts one of these ends the description: what follows is reference detail.
_SECTION = re.compile(
    r"^(args|arguments|parameters|params|returns?|yields?|raises|examples?|notes?|see also|"
    r"attributes|keyword arguments|kwargs|shape|warnings?|references|methods|usage|todo|"
    r"example usage|inputs?|outputs?)\s*:?\s*$|^(>>>|\.\. |:param|:return|:raises|:type|"
    r"-{3,}|={3,}|\$ )",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")  # "add(input, other) -> Tensor"


def _clean(text: str) -> str:
    """One line of plain text: RST roles and literals reduced to their content."""
    text = re.sub(r":[\w:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1", text)  # :func:`~a.b` -> a.b
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`]*)`_?", r"\1", text)
    text = text.replace("\\", "")
    return re.sub(r"\s+", " ", text).strip()


def docstring_pair(docstring: str) -> tuple[str, str] | None:
    """(article, summary) from one docstring, or None when it has no usable pair."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", docstring.strip()) if p.strip()]
    if paragraphs and _SIGNATURE.match(paragraphs[0].splitlines()[0].strip()):
        paragraphs = paragraphs[1:]  # torch's C functions start with their signature
    if len(paragraphs) < 2:
        return None
    first = paragraphs[0]
    if len(first.splitlines()) > 3 or _SECTION.match(first):
        return None
    summary = _clean(first)
    if not 4 <= len(summary.split()) <= 40 or not summary[0].isalpha():
        return None
    description = []  # lines up to the first section header or literal block ("...::")
    for line in "\n".join(paragraphs[1:]).splitlines():
        line = line.strip()
        if _SECTION.match(line):
            break
        if line.endswith("::"):  # reStructuredText: "text::" shows as "text:" + a code block
            description.append(line[:-1])
            break
        description.append(line)
    words = _clean(" ".join(description)).split()
    if len(words) < 12:
        return None
    return " ".join(words[:200]), summary


def _source_folders() -> dict[str, Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    torch_folder = Path(torch.__file__).parent
    return {"stdlib": stdlib, "torch": torch_folder, "numpy": Path(numpy.__file__).parent}


def _skip(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(
        part in {"site-packages", "dist-packages", "test", "tests", "testing", "idlelib"}
        or part.startswith(("_vendor", "lib2to3"))
        for part in parts[:-1]
    )


def extract_pairs(sources: tuple[str, ...] = SOURCES) -> list[dict]:
    """Every (article, summary) pair of the sources' docstrings, in a fixed order (sources, then
    files sorted by path), de-duplicated by article."""
    folders = _source_folders()
    unknown = set(sources) - set(folders)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; known: {sorted(folders)}")
    pairs, seen = [], set()
    for source in sources:
        root = folders[source]
        for path in sorted(root.rglob("*.py")):
            if _skip(path, root):
                continue
            try:
                tree = ast.parse(path.read_bytes())
            except (SyntaxError, ValueError, UnicodeDecodeError):
                continue
            module = _module_name(source, path.relative_to(root))
            for name, docstring in _docstrings(tree, module):
                pair = docstring_pair(docstring)
                if pair is None or pair[0] in seen:
                    continue
                seen.add(pair[0])
                where = f"{source}:{path.relative_to(root).as_posix()}"
                pairs.append(
                    {
                        "name": short_name(name),
                        "description": pair[0],
                        "summary": pair[1],
                        "where": f"{where}:{name.partition('(')[0]}",
                    }
                )
    return pairs


def short_name(qualified: str) -> str:
    """The last two parts of a qualified name, with its arguments: what a reader of the code sees
    at the definition. "json.decoder.JSONDecoder.decode(s)" -> "JSONDecoder.decode(s)",
    "torch.abs(input, *, out)" stays as it is."""
    path, bracket, arguments = qualified.partition("(")
    return ".".join(path.split(".")[-2:]) + bracket + arguments


def article_of(pair: dict) -> str:
    """What the summariser reads: the name, then the description. {"name": "Set._hash()",
    "description": "Compute ..."} -> "Set._hash(): Compute ..."."""
    return f"{pair['name']}: {pair['description']}"


def _module_name(source: str, relative: Path) -> str:
    """The dotted module name of a source file: json/decoder.py in the stdlib -> json.decoder,
    nn/functional.py in torch -> torch.nn.functional."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    prefix = [] if source == "stdlib" else [source]
    return ".".join(prefix + parts)


def _arguments(arguments: ast.arguments) -> str:
    """The argument names of a function, without annotations or defaults, and without the
    self / cls of a method: "(key, msg, digest)"."""
    names = [a.arg for a in arguments.posonlyargs + arguments.args]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    if arguments.vararg:
        names.append("*" + arguments.vararg.arg)
    names += [a.arg for a in arguments.kwonlyargs]
    if arguments.kwarg:
        names.append("**" + arguments.kwarg.arg)
    return f"({', '.join(names)})"


def _signature_line(line: str) -> str | None:
    """ "abs(input, *, out=None) -> Tensor" -> "(input, *, out)", for torch's C functions, whose
    documentation starts with its signature; None for any other line."""
    if not _SIGNATURE.match(line):
        return None
    inside = line[line.index("(") + 1 : line.rindex(")")]
    names = [
        re.split(r"[:=]", part)[0].strip() for part in re.split(r",\s*(?![^\[(]*[\])])", inside)
    ]
    return f"({', '.join(name for name in names if name)})"


def _docstrings(tree: ast.AST, module: str):
    """(qualified name with its arguments, docstring) of the module, every class and function of
    a parsed file (methods named through their class: "json.decoder.JSONDecoder.decode(s)"), and
    of the documentation torch attaches to its C functions with `add_docstr(torch.abs, "...")`."""
    docstring = ast.get_docstring(tree)
    if docstring:
        yield module, docstring
    yield from _named_docstrings(tree, module)


def _named_docstrings(node: ast.AST, prefix: str):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}.{child.name}"
            docstring = ast.get_docstring(child)
            if docstring:
                arguments = "" if isinstance(child, ast.ClassDef) else _arguments(child.args)
                yield name + arguments, docstring
            yield from _named_docstrings(child, name)
            continue
        if isinstance(child, ast.Call) and len(child.args) >= 2:
            called = child.func.attr if isinstance(child.func, ast.Attribute) else None
            called = child.func.id if isinstance(child.func, ast.Name) else called
            text = child.args[-1]
            if isinstance(text, ast.Call) and isinstance(text.func, ast.Attribute):
                text = text.func.value  # r"""...""".format(**common_args)
            if (called or "").startswith(("add_docstr", "_add_docstr")) and (
                isinstance(text, ast.Constant) and isinstance(text.value, str)
            ):
                docstring = re.sub(r"\{\w+\}", "", inspect.cleandoc(text.value))
                first_line = docstring.strip().splitlines()[0].strip() if docstring.strip() else ""
                yield ast.unparse(child.args[0]) + (_signature_line(first_line) or ""), docstring
        yield from _named_docstrings(child, prefix)


def split_of(summary: str) -> str:
    """train / validation / test (80 / 10 / 10) by a hash of the summary, lower-cased: pairs with
    the same summary (decimal's Context and Decimal methods, numpy's functions and their methods)
    always land in the same split, so the test split has no summary seen in training."""
    return hash_split(" ".join(summary.lower().split()), test=1, validation=1)


class SummaryBatch(NamedTuple):
    """ids (batch, seq): article <sep> summary <eos>, padded with <pad> on the right."""

    ids: torch.Tensor


def collate(rows: list[list[int]]) -> SummaryBatch:
    """Sequences of token ids (each article <sep> summary <eos>) -> one right-padded batch."""
    return SummaryBatch(pad(rows, PAD_ID))


@dataclass
class SummarizationData:
    """The three splits (Hugging Face `Dataset`s with columns name, description, article,
    summary, where, article_ids, summary_ids) and the tokenizer (`tokenizers.Tokenizer`)."""

    splits: dict
    tokenizer: object
    versions: dict

    def __getitem__(self, split: str):
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; the splits are {', '.join(SPLITS)}")
        return self.splits[split]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def decode(self, ids) -> str:
        """Text for token ids (special tokens dropped)."""
        ids = [int(i) for i in ids if int(i) not in (PAD_ID, SEP_ID, EOS_ID)]
        return self.tokenizer.decode(ids).strip()

    def prompt(self, split: str, index: int) -> torch.Tensor:
        """article <sep> of one example, shape (length,): what the model continues."""
        return torch.tensor([*self[split][index]["article_ids"], SEP_ID])

    def sequences(self, split: str) -> list[list[int]]:
        """article <sep> summary <eos> of every example of `split`."""
        part = self[split]
        return [
            [*article, SEP_ID, *summary, EOS_ID]
            for article, summary in zip(part["article_ids"], part["summary_ids"], strict=True)
        ]

    def loader(self, split: str, batch_size: int = 32, shuffle: bool | None = None) -> DataLoader:
        """`SummaryBatch`es of `split`; shuffled ("train" by default) batches group similar
        lengths, so that little compute goes to padding."""
        rows = self.sequences(split)
        shuffle = (split == "train") if shuffle is None else shuffle
        sampler = LengthGroupedBatches([len(row) for row in rows], batch_size, shuffle)
        return DataLoader(rows, batch_sampler=sampler, collate_fn=collate)

    def describe(self) -> str:
        sizes = ", ".join(f"{name} {len(self[name]):,}" for name in SPLITS)
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return f"pairs: {sizes}; tokenizer: {self.vocab_size:,} tokens; sources: {versions}"


def _versions() -> dict:
    python = ".".join(str(part) for part in sys.version_info[:3])
    return {"python": python, "torch": torch.__version__, "numpy": numpy.__version__}


def load_docstring_summaries(
    max_article_tokens: int = 32, max_summary_tokens: int = 32, vocab_size: int = 8000
) -> SummarizationData:
    """The docstring summarisation data (see the module's dataset card), built on first use and
    cached; articles and summaries are cut to `max_article_tokens` / `max_summary_tokens`."""
    settings = dict(
        version=DATASET_VERSION,
        versions=_versions(),
        max_article_tokens=max_article_tokens,
        max_summary_tokens=max_summary_tokens,
        vocab_size=vocab_size,
    )
    folder = cached_build("docstring-summaries", settings, lambda folder: _build(folder, settings))
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    splits = {name: datasets.load_from_disk(str(folder / name)) for name in SPLITS}
    return SummarizationData(splits, tokenizer, settings["versions"])


def _train_tokenizer(texts, vocab_size: int):
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, SEP, EOS],  # ids 0, 1, 2
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def _build(folder: Path, settings: dict) -> None:
    datasets.disable_progress_bars()
    pairs = [{**pair, "article": article_of(pair)} for pair in extract_pairs()]
    specials = (PAD, SEP, EOS)  # literal "<sep>" in a docstring would become the special token
    pairs = [p for p in pairs if not any(t in p["article"] + p["summary"] for t in specials)]
    by_split = {name: [p for p in pairs if split_of(p["summary"]) == name] for name in SPLITS}
    train_texts = [
        text for pair in by_split["train"] for text in (pair["article"], pair["summary"])
    ]
    tokenizer = _train_tokenizer(train_texts, settings["vocab_size"])
    assert [tokenizer.token_to_id(token) for token in (PAD, SEP, EOS)] == [PAD_ID, SEP_ID, EOS_ID]

    def encode(batch):
        articles = tokenizer.encode_batch(batch["article"])
        summaries = tokenizer.encode_batch(batch["summary"])
        return {
            "article_ids": [e.ids[: settings["max_article_tokens"]] for e in articles],
            "summary_ids": [e.ids[: settings["max_summary_tokens"]] for e in summaries],
        }

    for name in SPLITS:
        part = datasets.Dataset.from_list(by_split[name]).map(encode, batched=True)
        part.save_to_disk(str(folder / name))
    tokenizer.save(str(folder / "tokenizer.json"))
