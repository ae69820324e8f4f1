"""An IPython kernel with a memory cap, for grading: `python -m course_lib.machinery.limited_kernel
BYTES -f CONNECTION_FILE`.

The cap is the process's data limit (RLIMIT_DATA: heap and private memory, what tensors use), so
an allocation beyond it fails with a MemoryError or PyTorch's "can't allocate memory" in the cell
that made it, and the kernel lives on. BYTES 0 means no cap. Where the platform has no such limit
(Windows) the kernel starts without one.
"""

from __future__ import annotations

import importlib
import runpy
import sys


def main() -> None:
    limit = int(sys.argv.pop(1))
    if limit > 0:
        try:
            resource = importlib.import_module("resource")  # POSIX only
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        except (ImportError, AttributeError, ValueError, OSError):
            pass  # no such limit here: the per-cell and per-submission time limits still hold
    sys.argv[0] = "ipykernel_launcher"
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
