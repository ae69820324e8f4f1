"""The grader's side inside a grading kernel: checks that the submission's cells cannot reach.

The grader runs this once in each fresh kernel, before any of the submission's cells, with
`install(key, checks)`. It imports the checkers, takes a snapshot of every function, class and
module of the course, PyTorch, NumPy and the builtins, and keeps the check cells' code (hidden
tests included) and a secret key in a closure. A check step then runs

    __course_grader__.run("softmax", "<nonce>")

which puts back everything the submission replaced (`torch.allclose = ...`, a patched checker, a
fake `course_lib` in `sys.modules` or in the working folder), runs the grader's own copy of the
check, refuses a pass if the learner's code changed those functions while it was being checked,
and only then prints a pass line signed with the key. The grader awards points only for a line
whose signature it can verify, so printing "✅" or making a cell raise nothing earns nothing.

What remains possible for code written on purpose against the grader: it runs in the same
process, so it can dig the key out of memory (with `gc`, `ctypes` or frame introspection), and an
answer can call the course's reference implementation. The grader flags both kinds of code in
its report (`grading.flags_for`); the README states this threat model.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import importlib
import sys
import types
import warnings

PASS_MARK = "⟦course-grader pass"  # the signed line: ⟦course-grader pass GRADE_ID NONCE SIG⟧
TAMPER_MARK = "⟦course-grader restored"  # what was put back before a check
CHECK_PREAMBLE = "import course_lib.check as check\n"  # the checks, as they were at the start
GUARDED_PREFIXES = ("course_lib", "torch", "numpy")
KERNEL_SWAPPED = {("builtins", "input"), ("builtins", "raw_input")}  # ipykernel sets these per cell


def signature(key: str, grade_id: str, nonce: str) -> str:
    """The pass line's signature (the grader computes the same to verify it)."""
    return hmac.new(key.encode(), f"{grade_id}:{nonce}:pass".encode(), hashlib.sha256).hexdigest()


def pass_line(key: str, grade_id: str, nonce: str) -> str:
    return f"{PASS_MARK} {grade_id} {nonce} {signature(key, grade_id, nonce)}⟧"


def _guarded(name: str) -> bool:
    return name == "builtins" or any(
        name == prefix or name.startswith(prefix + ".") for prefix in GUARDED_PREFIXES
    )


def _is_code(value) -> bool:
    """Functions, classes and modules: what a patch replaces (data such as flags may change)."""
    return callable(value) or isinstance(value, types.ModuleType)


class _Snapshot:
    """Every guarded module's functions, classes and submodules, and the guarded classes' own
    attributes, as they were when the snapshot was taken."""

    def __init__(self) -> None:
        with warnings.catch_warnings():  # some modules warn when a deprecated name is touched
            warnings.simplefilter("ignore")
            self._take()

    def _take(self) -> None:
        self.modules = {
            name: module for name, module in list(sys.modules.items()) if _guarded(name)
        }
        self.entries: list[tuple[object, str, dict]] = []
        classes = {}
        for name, module in self.modules.items():
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            self.entries.append((module, name, _code_entries(namespace, name)))
            for value in list(namespace.values()):
                if isinstance(value, type) and _guarded(getattr(value, "__module__", "") or ""):
                    classes[id(value)] = value
        for cls in classes.values():
            label = f"{cls.__module__}.{cls.__qualname__}"
            self.entries.append((cls, label, _code_entries(dict(cls.__dict__))))

    def changes(self) -> list[str]:
        """What differs from the snapshot, in words ("torch.allclose was replaced")."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._changes()

    def _changes(self) -> list[str]:
        found = []
        moved = [
            name for name, module in self.modules.items() if sys.modules.get(name) is not module
        ]
        if moved:
            roots = sorted({name.split(".")[0] for name in moved})
            found.append(
                f"sys.modules: {len(moved)} of its modules ({', '.join(roots)}) replaced or removed"
            )
        for owner, label, entries in self.entries:
            namespace = owner.__dict__
            for attribute, value in entries.items():
                if namespace.get(attribute, _MISSING) is not value:
                    found.append(f"{label}.{attribute} was replaced")
            if isinstance(owner, type):
                for attribute, value in namespace.items():
                    if attribute not in entries and _is_code(value):
                        found.append(f"{label}.{attribute} was added")
        return found

    def restore(self) -> None:
        """Put every module, function and class back as it was."""
        sys.modules.update(self.modules)
        for owner, _, entries in self.entries:
            namespace = owner.__dict__
            for attribute, value in entries.items():
                if namespace.get(attribute, _MISSING) is not value:
                    setattr(owner, attribute, value)
            if isinstance(owner, type):
                for attribute in [a for a, v in namespace.items() if a not in entries]:
                    if _is_code(namespace[attribute]):
                        delattr(owner, attribute)


_MISSING = object()


def _code_entries(namespace: dict, label: str = "") -> dict:
    return {
        name: value
        for name, value in namespace.items()
        if _is_code(value) and (label, name) not in KERNEL_SWAPPED
    }


def install(key: str, checks: dict[str, str], namespace: dict):
    """Import the checkers, take the snapshot, and return the object check steps call."""
    # The checkers and everything they use, imported now, before any of the submission's cells.
    failure = importlib.import_module("course_lib.check.framework").CheckFailed
    importlib.import_module("course_lib.check")

    snapshot = _Snapshot()
    stdout = sys.stdout
    builtins_module = builtins
    compiled = {
        grade_id: compile(CHECK_PREAMBLE + source, f"<check {grade_id}>", "exec")
        for grade_id, source in checks.items()
    }

    def run(grade_id: str, nonce: str) -> None:
        """Restore, run the grader's copy of one check, and sign a pass."""
        changed = snapshot.changes()
        snapshot.restore()
        if changed:
            stdout.write(f"\n{TAMPER_MARK} {'; '.join(changed[:20])}⟧\n")
        namespace["__builtins__"] = builtins_module
        exec(compiled[grade_id], namespace)  # a failing check raises: no pass line
        during = snapshot.changes()
        if during:
            snapshot.restore()
            stdout.write(f"\n{TAMPER_MARK} {'; '.join(during[:20])}⟧\n")
            raise failure(
                "while it was being checked, your code replaced "
                + "; ".join(during[:3])
                + ": a check only counts when it runs on the course's own functions"
            )
        stdout.write("\n" + pass_line(key, grade_id, nonce) + "\n")
        stdout.flush()

    return types.SimpleNamespace(run=run)
