"""Running notebook code headless: a guarded kernel for the grader, and whole notebooks.

`Kernel.run(code, timeout)` executes one cell in a Jupyter kernel and always comes back: with the
cell's error, after interrupting (and if need be killing) a cell that runs too long, or after the
kernel itself died. The grader builds on it. `execute_notebook` runs a whole notebook with nbclient,
the way `python -m course_lib run` does.

Kernels always run this very Python (`sys.executable`), never whatever kernel happens to be
registered as "python3" on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import nbformat
import psutil
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient

from .course import GRADING_ENV_VAR  # noqa: F401 - kernels are told they are grading

OUTPUT_LIMIT = 20_000  # characters of a cell's text output kept (the last ones: verdicts come last)
INTERRUPT_GRACE_SECONDS = 5.0  # after an interrupt, how long a cell has to stop before a kill
REPLY_WAIT_SECONDS = 5.0  # how long to wait for the execute reply after the cell went idle


class ThisPythonKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel of the running interpreter (with a memory
    cap of `memory_bytes` when set: see `limited_kernel`)."""

    memory_bytes: int = 0

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        launcher = ["ipykernel_launcher"]
        if self.memory_bytes:
            launcher = ["course_lib.machinery.limited_kernel", str(self.memory_bytes)]
        return KernelSpec(
            argv=[sys.executable, "-m", *launcher, "-f", "{connection_file}"],
            display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (course)",
            language="python",
            resource_dir="",
        )


def kernel_manager(memory_bytes: int = 0) -> KernelManager:
    specs = ThisPythonKernelSpecs()
    specs.memory_bytes = memory_bytes
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def kernel_environment(**extra: str) -> dict[str, str]:
    """The environment of a headless kernel: progress bars silenced."""
    env = dict(os.environ)
    env.update({"COURSE_LIB_QUIET": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    env.update(extra)
    return env


@dataclass
class CellRun:
    """What happened to one cell: status is "ok", "error", "timeout", "died" or "skipped"."""

    status: str
    ename: str = ""
    evalue: str = ""
    output: str = ""  # the last OUTPUT_LIMIT characters the cell printed (stdout and stderr)
    seconds: float = 0.0
    kernel_alive: bool = True


class Kernel:
    """A Python kernel in its own process, started in `cwd`, for running untrusted cells."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60,
        memory_bytes: int = 0,
    ):
        self.manager = kernel_manager(memory_bytes)
        # The kernel's own stdout and stderr are dropped: cell output arrives as messages, and a
        # cell writing straight to file descriptor 1 must not mix into the grader's report.
        self.manager.start_kernel(
            cwd=str(cwd),
            env=env or kernel_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=startup_timeout)
        except RuntimeError:
            self.shutdown()
            raise

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def is_alive(self) -> bool:
        return self.manager.is_alive()

    def shutdown(self) -> None:
        """Stop the kernel process and any processes it started, whatever state it is in."""
        try:
            self.client.stop_channels()
        finally:
            if self.manager.has_kernel:
                _kill_children(self.manager)
                self.manager.shutdown_kernel(now=True)

    def run(self, code: str, timeout: float, store_history: bool = True) -> CellRun:
        """Execute `code`; come back within about `timeout` + INTERRUPT_GRACE_SECONDS seconds.

        A cell counts as "ok" only when the kernel's reply says so: an error the kernel could
        not even report is still an error.
        """
        started = time.monotonic()
        if not self.manager.is_alive():
            return CellRun(
                status="died",
                ename="KernelDead",
                kernel_alive=False,
                evalue="the kernel had stopped before this cell ran",
            )
        message_id = self.client.execute(
            code, store_history=store_history, allow_stdin=False, stop_on_error=False
        )
        result = CellRun(status="ok")
        pieces: deque[str] = deque()
        kept = 0

        def collect(until: float) -> bool:
            """Read this cell's messages until it is idle (True) or `until` passes (False)."""
            nonlocal kept
            while True:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    message = self.client.get_iopub_msg(timeout=min(0.5, remaining))
                except Empty:
                    if not self.manager.is_alive():
                        raise _KernelDied() from None
                    continue
                if message["parent_header"].get("msg_id") != message_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream":
                    text = content.get("text", "")[-OUTPUT_LIMIT:]
                    pieces.append(text)
                    kept += len(text)
                    while kept - len(pieces[0]) >= OUTPUT_LIMIT:  # keep only the tail
                        kept -= len(pieces.popleft())
                elif kind == "error" and result.status != "timeout":
                    result.status = "error"
                    result.ename = content.get("ename", "")
                    result.evalue = content.get("evalue", "")
                elif kind == "status" and content.get("execution_state") == "idle":
                    return True

        try:
            if collect(started + timeout):
                self._read_reply(message_id, result)
            else:
                result.status = "timeout"
                self.manager.interrupt_kernel()
                if not collect(time.monotonic() + INTERRUPT_GRACE_SECONDS):
                    self.shutdown()  # it ignored the interrupt: the only way left is to kill it
                    result.kernel_alive = False
        except _KernelDied:
            result.status = "died"
            result.kernel_alive = False
            self.shutdown()
        if result.status == "timeout":
            result.ename, result.evalue = "Timeout", f"the cell ran longer than {timeout:g} s"
        result.output = "".join(pieces)[-OUTPUT_LIMIT:]
        result.seconds = time.monotonic() - started
        return result

    def _read_reply(self, message_id: str, result: CellRun) -> None:
        """Settle the cell's status from its execute reply (and notice exit()/quit())."""
        deadline = time.monotonic() + REPLY_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                reply = self.client.get_shell_msg(timeout=0.5)
            except Empty:
                if not self.manager.is_alive():
                    break
                continue
            if reply["parent_header"].get("msg_id") != message_id:
                continue
            content = reply["content"]
            if any(p.get("source") == "ask_exit" for p in content.get("payload", [])):
                result.status, result.kernel_alive = "died", False
                result.ename, result.evalue = "SystemExit", "the cell called exit() or quit()"
                self.shutdown()
            elif content.get("status") != "ok" and result.status == "ok":
                result.status = "error"
                result.ename = content.get("ename") or "Error"
                result.evalue = content.get("evalue") or "the cell failed"
            return
        if result.status == "ok":  # no reply at all: never count that as a success
            result.status = "error"
            result.ename, result.evalue = "NoReply", "the kernel never confirmed that the cell ran"
            if not self.manager.is_alive():
                result.status, result.kernel_alive = "died", False


class _KernelDied(Exception):
    pass


def _kill_children(manager: KernelManager) -> None:
    """Best effort: end processes the kernel started (a cell may leave some running)."""
    try:
        process = manager.provisioner.process if manager.provisioner else None
        if process is None:
            return
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
    except Exception:  # the kernel may be gone already; this is cleanup, never an error
        pass


def execute_notebook(path: Path, *, timeout: float = 600, output_path: Path | None = None) -> float:
    """Execute the notebook at `path` top to bottom in a fresh kernel started in its folder.

    Raises nbclient's CellExecutionError at the first failing cell. Writes the executed notebook
    to `output_path` when given. Returns the wall time in seconds.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        km=kernel_manager(),
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.monotonic()
    client.execute(env=kernel_environment(), stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    if output_path is not None:
        nbformat.write(notebook, output_path)
    return seconds
