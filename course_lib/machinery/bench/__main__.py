"""`python -m course_lib.machinery.bench`: see the package docstring."""

from __future__ import annotations

import argparse
import time

import torch

from ..guide import write_guide
from ..paths import README, SOLUTIONS_DIR
from . import __doc__ as PACKAGE_DOC
from . import measurements
from .gpu import gpu_throughput
from .implementation import implementation_cost
from .notebooks import merged_rows, reference_step_ms, run_notebooks
from .readme import generated_readme, gpu_table, implementation_table, quality_table


def _time_notebooks(parser, only: list[str] | None, inplace: bool) -> None:
    every = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    paths = every
    earlier = measurements.load("notebooks")
    if only:
        unknown = sorted(set(only) - {path.stem for path in every})
        if unknown:
            parser.error(
                f"--only takes solutions notebook names such as 07_t5_multitask; not found: "
                f"{', '.join(unknown)}"
            )
        if earlier is not None and earlier["machine"] != measurements.machine():
            parser.error(
                f"the other notebooks were timed on {earlier['machine']}, not on this machine: "
                "time them all here (--notebooks without --only), so that the table compares "
                "times from one machine"
            )
        paths = [path for path in every if path.stem in only]
    rows = run_notebooks(paths, inplace)
    if only and earlier is not None:  # keep the other notebooks' rows from the last full run
        rows = merged_rows(earlier["rows"], rows, [path.stem for path in every])
    reference_timed = any(path.stem.startswith("01_") for path in paths)
    step_ms = reference_step_ms() if reference_timed or earlier is None else None
    if step_ms is None and earlier is not None:
        step_ms = earlier.get("reference_step_ms")  # notebook 01's, from the last full run
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
    args = parser.parse_args(argv)
    if args.readme:
        README.write_text(generated_readme(README.read_text()))
        print(f"wrote {write_guide()} (its run times come from the benchmark too)")
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
