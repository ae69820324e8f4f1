"""Measured speed and quality: `python -m course_lib.bench`.

    python -m course_lib.bench              implementation cost against the references (CPU,
                                            float32; a few minutes), plus throughput and model FLOP
                                            utilisation on a CUDA GPU when there is one
    python -m course_lib.bench --notebooks  executes every solutions notebook headless, one at a
                                            time, recording wall time, peak memory and the
                                            headline results each notebook records (~17 minutes)
    python -m course_lib.bench --readme     rewrites the README's generated tables from the JSON

Results go to `benchmarks/implementation.json` (and `gpu.json`) and `benchmarks/notebooks.json`;
each run prints its tables in markdown. The README's notebook table, its results table and its
implementation table are generated from those files (a test checks they agree).

Implementation cost: the course's module and its reference run forward + backward (+ an AdamW
step for whole models) on the same inputs with the same weights; the two are timed interleaved in
one process (A, B, B, A, ...), and the ratio of their medians is reported, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks"
README = ROOT / "README.md"
SOLUTIONS = ROOT / "solutions"


# --- implementation cost ---------------------------------------------------------------------


def interleaved_ratio(
    ours: Callable[[], object], reference: Callable[[], object], repeats: int = 30, warmup: int = 3
) -> dict:
    """Median seconds of `ours` and `reference`, timed alternately (ABBA...), and their ratio."""
    from .timing import _synchronize

    for _ in range(warmup):
        ours()
        reference()
    times = {"ours": [], "reference": []}
    for repeat in range(repeats):
        order = (("ours", ours), ("reference", reference))
        for name, fn in order if repeat % 2 == 0 else order[::-1]:
            _synchronize()
            started = time.perf_counter()
            fn()
            _synchronize()
            times[name].append(time.perf_counter() - started)
    ours_median = statistics.median(times["ours"])
    reference_median = statistics.median(times["reference"])
    return {
        "ours_ms": 1000 * ours_median,
        "reference_ms": 1000 * reference_median,
        "ratio": ours_median / reference_median,
        "repeats": repeats,
    }


def _backward(fn: Callable[[], torch.Tensor], parameters) -> Callable[[], None]:
    """A step that runs `fn` forward, sums its output and backpropagates."""
    parameters = list(parameters)

    def step():
        for parameter in parameters:
            parameter.grad = None
        out = fn()
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()

    return step


def _training_step(model, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
    """A whole training step: forward, loss, backward, AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def _attention_cases(repeats: int) -> list[dict]:
    import torch.nn.functional as F

    from .attention import scaled_dot_product_attention
    from .multi_head_attention import MultiHeadAttention

    generator = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(32, 4, 64, 32, generator=generator, requires_grad=True) for _ in range(3)
    )
    mask = torch.ones(32, 1, 64, 64, dtype=torch.bool).tril()
    cases = [
        {
            "what": "scaled dot-product attention (32 × 4 heads × 64 × 32, causal)",
            "ours": "attention.scaled_dot_product_attention",
            "reference": "F.scaled_dot_product_attention",
            "target": None,
            **interleaved_ratio(
                _backward(lambda: scaled_dot_product_attention(q, k, v, mask)[0], (q, k, v)),
                _backward(
                    lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v)
                ),
                repeats,
            ),
        }
    ]
    x = torch.randn(32, 64, 128, generator=generator, requires_grad=True)
    reference = torch.nn.MultiheadAttention(128, 4, batch_first=True)
    for fast, need_weights, target in ((False, True, 1.2), (True, False, 1.05)):
        ours = MultiHeadAttention(128, 4, fast=fast).load_from_torch(reference)
        parameters = [x, *ours.parameters(), *reference.parameters()]
        cases.append(
            {
                "what": f"multi-head self-attention, {'fast path' if fast else 'readable path'} "
                "(batch 32 × 64 × 128, 4 heads)",
                "ours": f"MultiHeadAttention(fast={fast})",
                "reference": f"nn.MultiheadAttention(need_weights={need_weights})",
                "target": target,
                **interleaved_ratio(
                    _backward(lambda ours=ours: ours(x, x, x)[0], parameters),
                    _backward(
                        lambda nw=need_weights: reference(x, x, x, need_weights=nw)[0], parameters
                    ),
                    repeats,
                ),
            }
        )
    return cases


def _transformer_case(repeats: int, fast: bool) -> dict:
    from .transformer import TransformerStack

    torch.manual_seed(0)
    reference = torch.nn.Transformer(128, 4, 2, 2, 512, dropout=0.0, batch_first=True)
    ours = TransformerStack(128, 4, 2, 2, 512, fast=fast).load_from_torch(reference)
    generator = torch.Generator().manual_seed(1)
    source = torch.randn(32, 40, 128, generator=generator)
    target = torch.randn(32, 30, 128, generator=generator)
    causal = torch.ones(30, 30, dtype=torch.bool).tril()
    reference_causal = torch.nn.Transformer.generate_square_subsequent_mask(30)
    return {
        "what": f"Transformer 2+2 layers × 128, training step ({'fast' if fast else 'readable'} "
        "attention; batch 32, 40 → 30 tokens)",
        "ours": "transformer.TransformerStack",
        "reference": "nn.Transformer",
        "target": 1.1,
        **interleaved_ratio(
            _training_step(ours, lambda: ours(source, target, target_mask=causal).pow(2).mean()),
            _training_step(
                reference,
                lambda: reference(source, target, tgt_mask=reference_causal).pow(2).mean(),
            ),
            repeats,
        ),
    }


def _bert_case(repeats: int, fast: bool) -> dict:
    import transformers

    from .bert import BertConfig, BertForPretraining

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=8000,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        attn_implementation="sdpa" if fast else "eager",
    )
    reference = transformers.BertForPreTraining(config)
    ours = BertForPretraining(BertConfig.from_transformers(config)).load_from_transformers(
        reference
    )
    from .training import use_fast_attention

    use_fast_attention(ours, fast)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 8000, (32, 64), generator=generator)
    segments = torch.zeros_like(ids)
    return {
        "what": f"BERT 2 layers × 128, training step ({'fast' if fast else 'readable'} attention; "
        "batch 32 × 64 tokens, MLM scores at every position)",
        "ours": "bert.BertForPretraining",
        "reference": f"transformers.BertForPreTraining ({'sdpa' if fast else 'eager'})",
        "target": 1.1,
        **interleaved_ratio(
            _training_step(ours, lambda: sum(s.float().mean() for s in ours(ids, segments))),
            _training_step(
                reference,
                lambda: sum(
                    s.float().mean() for s in reference(input_ids=ids, token_type_ids=segments)[:2]
                ),
            ),
            repeats,
        ),
    }


def _t5_case(repeats: int, fast: bool) -> dict:
    import transformers

    from . import t5

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=4000,
        d_model=128,
        d_kv=32,
        d_ff=512,
        num_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        decoder_start_token_id=0,
        attn_implementation="sdpa" if fast else "eager",
    )
    reference = transformers.T5ForConditionalGeneration(config)
    ours = t5.T5(t5.T5Config.from_transformers(config)).load_from_transformers(reference)
    ours.use_fast_attention(fast)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 4000, (32, 48), generator=generator)
    labels = torch.randint(3, 4000, (32, 16), generator=generator)
    decoder_ids = t5.shift_right(labels)
    return {
        "what": f"T5 2+2 layers × 128, training step ({'fast' if fast else 'readable'} attention; "
        "batch 32, 48 → 16 tokens, scores at every position)",
        "ours": "t5.T5",
        "reference": f"transformers.T5ForConditionalGeneration ({'sdpa' if fast else 'eager'})",
        "target": 1.1,
        **interleaved_ratio(
            _training_step(ours, lambda: ours(ids, decoder_ids).mean()),
            _training_step(
                reference,
                lambda: reference(input_ids=ids, decoder_input_ids=decoder_ids).logits.mean(),
            ),
            repeats,
        ),
    }


def implementation_cost(repeats: int = 30) -> list[dict]:
    cases = _attention_cases(repeats * 2)
    for fast in (False, True):
        cases.append(_transformer_case(repeats, fast))
        cases.append(_bert_case(repeats, fast))
        cases.append(_t5_case(repeats, fast))
    for case in cases:
        target = case["target"]
        case["meets_target"] = None if target is None else case["ratio"] <= target
    return cases


# Why a ratio target is missed, measured (profiles in the closing note of the benchmark issue);
# keyed by the start of the case's "what".
EXPLANATIONS: dict[str, str] = {}


def explanation(case: dict) -> str | None:
    for start, text in EXPLANATIONS.items():
        if case["what"].startswith(start):
            return text
    return None


# --- GPU throughput --------------------------------------------------------------------------

PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
}  # dense bfloat16 tensor-core peaks from the vendors' sheets


def peak_flops(name: str) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in name:
            return flops
    return None


def training_flops_per_token(parameters: int, layers: int, width: int, length: int) -> float:
    """6 FLOPs per parameter per token (forward 2, backward 4) plus attention's
    12 × layers × width × length (PaLM's appendix B estimate)."""
    return 6 * parameters + 12 * layers * width * length


def gpu_throughput(steps: int = 50) -> list[dict]:
    """Course BERT and `transformers` BERT (2 × 128, batch 512 × 64), and the course Transformer,
    trained with `fit`'s CUDA settings (bf16 autocast, fused AdamW, fast attention)."""
    import transformers

    from .bert import BertConfig, BertForPretraining
    from .training import use_fast_attention

    transformers.logging.set_verbosity_error()
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = peak_flops(name)
    rows = []

    def measure(label, model, loss, tokens_per_step, flops_per_token):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                value = loss()
            value.backward()
            optimizer.step()

        for _ in range(10):
            step()
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / steps
        tokens = tokens_per_step / seconds
        rows.append(
            {
                "what": label,
                "device": name,
                "ms_per_step": 1000 * seconds,
                "tokens_per_s": tokens,
                "mfu": None if peak is None else tokens * flops_per_token / peak,
            }
        )

    for batch, length, layers, width in ((512, 64, 2, 128), (256, 128, 12, 768)):
        config = transformers.BertConfig(
            vocab_size=8000 if width == 128 else 30522,
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=max(width // 64, 4),
            intermediate_size=4 * width,
            max_position_embeddings=length,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        ids = torch.randint(5, config.vocab_size, (batch, length), device=device)
        segments = torch.zeros_like(ids)
        theirs = transformers.BertForPreTraining(config).to(device)
        ours = use_fast_attention(
            BertForPretraining(BertConfig.from_transformers(config)).to(device)
        )
        parameters = sum(p.numel() for p in ours.parameters())
        flops = training_flops_per_token(parameters, layers, width, length)
        shape = f"BERT {layers} × {width}, batch {batch} × {length}"
        measure(
            f"{shape}, course",
            ours,
            lambda m=ours, i=ids, g=segments: sum(s.float().mean() for s in m(i, g)),
            batch * length,
            flops,
        )
        measure(
            f"{shape}, transformers",
            theirs,
            lambda m=theirs, i=ids, g=segments: sum(
                s.float().mean() for s in m(input_ids=i, token_type_ids=g)[:2]
            ),
            batch * length,
            flops,
        )
    from .transformer import TransformerStack

    reference = torch.nn.Transformer(128, 4, 2, 2, 512, dropout=0.0, batch_first=True).to(device)
    ours = TransformerStack(128, 4, 2, 2, 512, fast=True).to(device)
    source = torch.randn(512, 40, 128, device=device)
    target = torch.randn(512, 30, 128, device=device)
    causal = torch.ones(30, 30, dtype=torch.bool, device=device).tril()
    float_causal = torch.nn.Transformer.generate_square_subsequent_mask(30, device=device)
    parameters = sum(p.numel() for p in ours.parameters())
    flops = training_flops_per_token(parameters, 4, 128, 35)
    shape = "Transformer 2+2 × 128, batch 512, 40 → 30"
    measure(
        f"{shape}, course",
        ours,
        lambda: ours(source, target, target_mask=causal).float().pow(2).mean(),
        512 * 70,
        flops,
    )
    measure(
        f"{shape}, torch.nn",
        reference,
        lambda: reference(source, target, tgt_mask=float_causal).float().pow(2).mean(),
        512 * 70,
        flops,
    )
    return rows


# --- notebooks -------------------------------------------------------------------------------


def run_one_notebook(path: Path, inplace: bool = False) -> dict:
    """Execute one notebook in a fresh kernel: wall time, and the peak resident memory of the
    kernel (its high-water mark, read from /proc while it runs), with what the notebook recorded
    (`course_lib.results`)."""
    import threading

    from .execution import execute_notebook
    from .results import forget, recorded

    number = path.stem.split("_")[0]
    forget(number)
    peak_kb, running = [0], [True]

    def watch():
        import psutil

        while running[0]:
            for child in psutil.Process().children(recursive=True):
                peak_kb[0] = max(peak_kb[0], _high_water_kb(child.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        seconds = execute_notebook(path, output_path=path if inplace else None)
    finally:
        running[0] = False
        watcher.join()
    return {
        "notebook": path.stem,
        "seconds": round(seconds, 1),
        "peak_memory_mb": round(peak_kb[0] / 1024),
        "results": recorded(number),
    }


def _high_water_kb(pid: int) -> int:
    """VmHWM (the peak resident set size so far) of a process, in kB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_notebooks(paths: list[Path], inplace: bool = False) -> list[dict]:
    rows = []
    for path in paths:
        print(f"{path.name} ...", end=" ", flush=True)
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "course_lib.bench",
                "--one-notebook",
                str(path),
                *(["--inplace"] if inplace else []),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "COURSE_LIB_QUIET": "1"},
        )
        if completed.returncode != 0:
            print("FAILED")
            print(completed.stderr[-2000:])
            raise SystemExit(1)
        row = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"{row['seconds']:.0f} s, {row['peak_memory_mb']} MB")
        rows.append(row)
    return rows


# --- tables ----------------------------------------------------------------------------------


def machine() -> str:
    threads = torch.get_num_threads()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({threads} threads), no GPU"
        if not torch.cuda.is_available()
        else torch.cuda.get_device_name()
    )


def implementation_table(cases: list[dict]) -> str:
    lines = [
        "| what (forward + backward, float32, CPU) | course | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for case in cases:
        target = (
            "—"
            if case["target"] is None
            else (f"≤ {case['target']:g}× {'✅' if case['meets_target'] else '❌'}")
        )
        why = explanation(case) if case["target"] is not None and not case["meets_target"] else None
        if why:
            notes.append(why)
            target += f" (note {len(notes)})"
        lines.append(
            f"| {case['what']} | `{case['ours']}` | `{case['reference']}` | "
            f"{case['ratio']:.2f}× | {target} |"
        )
    lines += [""] + [f"Note {number}: {note}" for number, note in enumerate(notes, 1)]
    return "\n".join(lines).rstrip()


def gpu_table(rows: list[dict]) -> str:
    lines = [
        "| what (bf16 autocast, fused AdamW) | GPU | ms per step | tokens/s | MFU |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        mfu = "—" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%"
        lines.append(
            f"| {row['what']} | {row['device']} | {row['ms_per_step']:.1f} | "
            f"{row['tokens_per_s'] / 1e6:.2f}M | {mfu} |"
        )
    return "\n".join(lines)


def notebook_table(rows: list[dict], catalog: dict[str, tuple[str, str]]) -> str:
    """The README's notebook table: `catalog` maps the notebook's stem to (what you build,
    graded exercises); times and memory come from `rows`."""
    lines = [
        "| # | notebook | what you build | run time* | peak memory | graded exercises |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        number, name = row["notebook"].split("_", 1)
        what, exercises = catalog[row["notebook"]]
        lines.append(
            f"| {number} | [{name}](solutions/{row['notebook']}.ipynb) | {what} | "
            f"{row['seconds']:.0f} s | {row['peak_memory_mb']:,} MB | {exercises} |"
        )
    return "\n".join(lines)


def _one_decimal(value: float) -> str:
    """`value` (kept with 2 decimals) rounded half up to 1 decimal, as a person would: 96.35 ->
    96.4 (float formatting would give 96.3, since 96.35 is stored as 96.34999...)."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def quality_table(rows: list[dict]) -> str:
    lines = [
        "| notebook | task (test split unless stated) | metric | model | trivial baseline |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        for result in row["results"]:
            baseline = (
                "—"
                if result["baseline"] is None
                else (f"{_one_decimal(result['baseline'])} ({result['baseline_name']})")
            )
            lines.append(
                f"| {result['notebook']} | {result['task']} | {result['metric']} | "
                f"{_one_decimal(result['value'])} | {baseline} |"
            )
    return "\n".join(lines)


def _section(text: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start not in text or end not in text:
        raise ValueError(f"README has no {start} ... {end} section")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{body}\n{end}{after}"


def readme_catalog(text: str) -> dict[str, tuple[str, str]]:
    """(what you build, graded exercises) of each notebook, read from the README's table."""
    catalog = {}
    for line in text.splitlines():
        match = re.match(
            r"^\| (\w+) \| \[(\w+)\]\(solutions/([\w.]+)\.ipynb\) \| (.*?) \| "
            r"[^|]* \|(?: [^|]* \|)? ([^|]*) \|$",
            line,
        )
        if match:
            catalog[match.group(3)] = (match.group(4), match.group(5).strip())
    return catalog


def generated_readme(text: str) -> str:
    """The README with its generated sections rebuilt from benchmarks/*.json."""
    notebooks = json.loads((RESULTS / "notebooks.json").read_text())
    implementation = json.loads((RESULTS / "implementation.json").read_text())
    text = _section(text, "notebooks", notebook_table(notebooks["rows"], readme_catalog(text)))
    total = sum(row["seconds"] for row in notebooks["rows"])
    text = _section(
        text,
        "notebooks-total",
        f"\\* Wall time and peak memory of the solutions notebook executed headless "
        f"(`python -m course_lib.bench --notebooks`) on {notebooks['machine']}: "
        f"{total / 60:.1f} minutes for the series.",
    )
    text = _section(text, "quality", quality_table(notebooks["rows"]))
    text = _section(
        text,
        "implementation",
        f"Measured on {implementation['machine']}:\n\n"
        + implementation_table(implementation["cases"]),
    )
    gpu_file = RESULTS / "gpu.json"
    gpu = (
        gpu_table(json.loads(gpu_file.read_text())["rows"])
        if gpu_file.exists()
        else "No GPU figures yet: no CUDA GPU was available where the benchmark last ran."
    )
    return _section(text, "gpu", gpu)


def _save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__)
    parser.add_argument("--notebooks", action="store_true", help="time every solutions notebook")
    parser.add_argument("--readme", action="store_true", help="regenerate the README's tables")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument(
        "--inplace", action="store_true", help="with --notebooks: store the outputs in solutions/"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="with --notebooks: only these notebooks (e.g. 07_t5_multitask)",
    )
    parser.add_argument("--one-notebook", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_notebook:
        print(json.dumps(run_one_notebook(Path(args.one_notebook), args.inplace)))
        return 0
    if args.readme:
        README.write_text(generated_readme(README.read_text()))
        print("README tables regenerated from benchmarks/*.json")
        return 0
    if args.notebooks:
        paths = sorted(SOLUTIONS.glob("*.ipynb"))
        if args.only:
            paths = [path for path in paths if path.stem in args.only]
            if len(paths) != len(args.only):
                parser.error(f"--only takes notebook names such as 07_t5_multitask: {args.only}")
        rows = run_notebooks(paths, args.inplace)
        if args.only:  # keep the other notebooks' rows from the last full run
            earlier = json.loads((RESULTS / "notebooks.json").read_text())["rows"]
            fresh = {row["notebook"]: row for row in rows}
            rows = [fresh.get(row["notebook"], row) for row in earlier]
        _save("notebooks.json", {"machine": machine(), "rows": rows})
        print(quality_table(rows))
        return 0
    started = time.monotonic()
    cases = implementation_cost(args.repeats)
    _save("implementation.json", {"machine": machine(), "cases": cases})
    print(implementation_table(cases))
    if torch.cuda.is_available():
        rows = gpu_throughput()
        _save("gpu.json", {"rows": rows})
        print(gpu_table(rows))
    notebooks_file = RESULTS / "notebooks.json"
    if notebooks_file.exists():
        notebooks = json.loads(notebooks_file.read_text())
        print(f"\nNotebooks, as last timed by --notebooks on {notebooks['machine']}:\n")
        print(notebook_table(notebooks["rows"], readme_catalog(README.read_text())))
        print()
        print(quality_table(notebooks["rows"]))
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
