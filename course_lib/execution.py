"""Running notebook code headless: a guarded kernel for the grader, and whole notebooks.

`Kernel.run(code, timeout)` executes one cell in a Jupyter kernel and always comes back: with the
cell's error, after interrupting (and if need be killing) a cell that runs too long, or after the
kernel itself died. The grader builds on it. `execute_notebook` runs a whole notebook with nbclient,
the way `python -m course_lib run` and the test suite do.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

from jupyter_client import KernelManager

OUTPUT_LIMIT = 20_000  # characters of a cell's text output kept; a flood of prints is cut here
INTERRUPT_GRACE_SECONDS = 5.0  # after an interrupt, how long a cell has to stop before a kill


def kernel_environment(**extra: str) -> dict[str, str]:
    """The environment of a headless kernel: progress bars silenced."""
    env = dict(os.environ)
    env.update({"COURSE_LIB_QUIET": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    env.update(extra)
    return env


@dataclass
class CellRun:
    """What happened to one cell: status is "ok", "error", "timeout" or "died"."""

    status: str
    ename: str = ""
    evalue: str = ""
    output: str = ""  # text the cell printed (stdout and stderr), cut at OUTPUT_LIMIT
    seconds: float = 0.0
    kernel_alive: bool = True


class Kernel:
    """A Python kernel in its own process, started in `cwd`, for running untrusted cells."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None, startup_timeout: float = 60):
        self.manager = KernelManager(kernel_name="python3")
        # The kernel's own stderr (start-up chatter) is dropped; cell output comes by messages.
        self.manager.start_kernel(
            cwd=str(cwd), env=env or kernel_environment(), stderr=subprocess.DEVNULL
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
        """Stop the kernel process, whatever state it is in."""
        try:
            self.client.stop_channels()
        finally:
            if self.manager.has_kernel:
                self.manager.shutdown_kernel(now=True)

    def run(self, code: str, timeout: float) -> CellRun:
        """Execute `code`; come back within about `timeout` + INTERRUPT_GRACE_SECONDS seconds."""
        started = time.monotonic()
        if not self.manager.is_alive():
            return CellRun(
                status="died",
                ename="KernelDead",
                kernel_alive=False,
                evalue="the kernel had stopped before this cell ran",
            )
        message_id = self.client.execute(
            code, store_history=True, allow_stdin=False, stop_on_error=False
        )
        result = CellRun(status="ok")
        pieces: list[str] = []
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
                if kind == "stream" and kept < OUTPUT_LIMIT:
                    text = content.get("text", "")[: OUTPUT_LIMIT - kept]
                    pieces.append(text)
                    kept += len(text)
                elif kind == "error" and result.status != "timeout":
                    result.status = "error"
                    result.ename, result.evalue = (
                        content.get("ename", ""),
                        content.get("evalue", ""),
                    )
                elif kind == "status" and content.get("execution_state") == "idle":
                    return True

        try:
            if collect(started + timeout):
                if self._asked_to_exit(message_id):
                    result.status, result.kernel_alive = "died", False
                    result.ename, result.evalue = "SystemExit", "the cell called exit() or quit()"
                    self.shutdown()
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
        result.output = "".join(pieces)
        result.seconds = time.monotonic() - started
        return result

    def _asked_to_exit(self, message_id: str) -> bool:
        """Whether the cell called IPython's exit()/quit(), which stops the kernel after it."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                reply = self.client.get_shell_msg(timeout=0.5)
            except Empty:
                continue
            if reply["parent_header"].get("msg_id") == message_id:
                payloads = reply["content"].get("payload", [])
                return any(payload.get("source") == "ask_exit" for payload in payloads)
        return False


class _KernelDied(Exception):
    pass


def execute_notebook(path: Path, *, timeout: float = 600, output_path: Path | None = None) -> float:
    """Execute the notebook at `path` top to bottom in a fresh kernel started in its folder.

    Raises nbclient's CellExecutionError at the first failing cell. Writes the executed notebook
    to `output_path` when given. Returns the wall time in seconds.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.monotonic()
    client.execute(env=kernel_environment(), stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    if output_path is not None:
        nbformat.write(notebook, output_path)
    return seconds
