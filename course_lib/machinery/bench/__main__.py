"""`python -m course_lib.machinery.bench`: see the package docstring."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..paths import README, SOLUTIONS_DIR
from . import __doc__ as PACKAGE_DOC
from . import measurements
from .gpu import gpu_throughput
from .implementation import implementation_cost
from .notebooks import merged_rows, reference_step_ms, run_notebooks, run_one_notebook
from .readme import generated_readme, gpu_table, implementation_table, quality_table


def _time_notebooks(parser, only: list[str] | None, inplace: bool) -> None:
    paths = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    if only:
        unknown = sorted(set(only) - {path.stem for path in paths})
        if unknown:
            parser.error(
                f"--only takes solutions notebook names such as 07_t5_multitask; not found: "
                f"{', '.join(unknown)}"
            )
        paths = [path for path in paths if path.stem in only]
    rows = run_notebooks(paths, inplace)
    step_ms = reference_step_ms()  # from notebook 01's run here (this one, or an earlier one)
    earlier = measurements.load("notebooks")
    if only and earlier is not None:  # keep the other notebooks' rows from the last full run
        if earlier["machine"] != measurements.machine():
            print(f"note: the other rows were measured on {earlier['machine']}")
        every = [path.stem for path in sorted(SOLUTIONS_DIR.glob("*.ipynb"))]
        rows = merged_rows(earlier["rows"], rows, every)
    measurements.save(
        "notebooks",
        {
            "machine": measurements.machine(),
            "reference_step_ms": None if step_ms is None else round(step_ms, 1),
            "rows": rows,
        },
    )
    print(quality_table(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.machinery.bench",
        description=PACKAGE_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        _time_notebooks(parser, args.only, args.inplace)
        return 0
    started = time.monotonic()
    cases = implementation_cost(args.repeats)
    measurements.save("implementation", {"machine": measurements.machine(), "cases": cases})
    print(implementation_table(cases))
    if torch.cuda.is_available():
        rows = gpu_throughput()
        measurements.save("gpu", {"rows": rows})
        print(gpu_table(rows))
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
