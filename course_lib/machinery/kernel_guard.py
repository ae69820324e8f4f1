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
import contextlib
import functools
import hashlib
import hmac
import importlib
import io
import os
import sys
import sysconfig
import types
import warnings

PASS_MARK = "⟦course-grader pass"  # the signed line: ⟦course-grader pass GRADE_ID NONCE SIG⟧
TAMPER_MARK = "⟦course-grader restored"  # what was put back before a check
COMPARISONS = ("allclose", "equal", "isclose", "eq", "ne", "all", "any", "abs", "isfinite", "isnan")
CHECK_PREAMBLE = "import course_lib.check as check\n"  # the checks, as they were at the start
GUARDED_PREFIXES = ("course_lib", "torch", "numpy")


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
        roots = {
            sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
        }
        course = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # course_lib/
        self.roots = tuple(os.path.realpath(root) + os.sep for root in roots | {course})
        self.modules = {
            name: module for name, module in list(sys.modules.items()) if _guarded(name)
        }
        self.entries: list[tuple[object, str, dict]] = []
        classes = {}
        for name, module in self.modules.items():
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            self.entries.append((module, name, _code_entries(namespace)))
            for value in list(namespace.values()):
                if isinstance(value, type) and _guarded(getattr(value, "__module__", "") or ""):
                    classes[id(value)] = value
        for cls in classes.values():
            label = f"{cls.__module__}.{cls.__qualname__}"
            self.entries.append((cls, label, _code_entries(dict(cls.__dict__))))

    def differences(self) -> list[tuple[object, str, object, str]]:
        """(owner, attribute, original, description) of every patch made by code that is not
        a library's: a function, class or module defined in the notebook (or anywhere outside
        the installed packages and the course) put where the snapshot had another, or shadowing
        an inherited attribute of a guarded class. Libraries patch themselves too (PyTorch's
        compiler wraps `torch.manual_seed`, optimizers wrap their `step`, `transformers` adds
        methods to `nn.Module`): those are left alone."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = []
            for name, module in self.modules.items():
                now = sys.modules.get(name, _MISSING)
                if now is _MISSING or (now is not module and not self.trusted(now)):
                    found.append((sys.modules, name, module, f"sys.modules[{name!r}]"))
            for owner, label, entries in self.entries:
                namespace = owner.__dict__
                for attribute, value in entries.items():
                    now = namespace.get(attribute, _MISSING)
                    if now is not value and (now is _MISSING or not self.trusted(now)):
                        found.append((owner, attribute, value, f"{label}.{attribute} was replaced"))
                if isinstance(owner, type):
                    for attribute, now in list(namespace.items()):
                        if attribute in entries or not _is_code(now) or self.trusted(now):
                            continue
                        if _inherited(owner, attribute):
                            found.append(
                                (owner, attribute, _MISSING, f"{label}.{attribute} was added")
                            )
            return found

    def changes(self) -> list[str]:
        """The patches, in words ("torch.allclose was replaced"); entries of sys.modules are
        counted in one line."""
        found = self.differences()
        moved = [item for item in found if item[0] is sys.modules]
        words = [item[3] for item in found if item[0] is not sys.modules]
        if moved:
            roots = sorted({item[1].split(".")[0] for item in moved})
            words.insert(
                0,
                f"sys.modules: {len(moved)} of its modules ({', '.join(roots)}) replaced or "
                "removed",
            )
        return words

    def restore(self) -> None:
        """Undo every patch that `differences` finds."""
        for owner, attribute, original, _ in self.differences():
            if owner is sys.modules:
                sys.modules[attribute] = original
            elif original is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)

    def trusted(self, value) -> bool:
        """Made by an installed library, the standard library or the course (not the notebook):
        builtins and C functions, and functions, classes and modules whose file is there."""
        for _ in range(5):  # functools.partial, decorators, bound methods: look inside
            inner = getattr(value, "__wrapped__", None) or getattr(value, "__func__", None)
            inner = inner or (getattr(value, "func", None) if callable(value) else None)
            if inner is None or inner is value:
                break
            value = inner
        code = getattr(value, "__code__", None)
        if code is not None:
            path = code.co_filename
        elif isinstance(value, types.ModuleType):
            path = getattr(value, "__file__", None) or ""
        elif isinstance(value, type):
            if value.__module__ == "builtins":
                return True
            module = sys.modules.get(value.__module__)
            path = "" if value.__module__ == "__main__" else getattr(module, "__file__", "") or ""
        else:
            return True  # builtins and C functions come from Python or an extension module
        path = os.path.realpath(path) if path and not path.startswith("<") else path
        return any(path.startswith(root) for root in self.roots)


_MISSING = object()


def _code_entries(namespace: dict) -> dict:
    return {name: value for name, value in namespace.items() if _is_code(value)}


def _inherited(cls: type, attribute: str) -> bool:
    """Does a base class other than `object` define `attribute` (so that adding it overrides)?"""
    return any(attribute in base.__dict__ for base in cls.__mro__[1:] if base is not object)


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

    framework = sys.modules["course_lib.check.framework"]
    torch = sys.modules["torch"]
    pinned = [  # what a check compares and prints with: looked at after every learner call
        (owner, name, value)
        for owner in (builtins, framework, sys.modules["course_lib.check"])
        for name, value in list(vars(owner).items())
        if _is_code(value) and (owner, name) not in ((builtins, "input"), (builtins, "raw_input"))
    ]  # ipykernel sets input() anew for each cell
    pinned += [(torch, name, getattr(torch, name)) for name in COMPARISONS]

    def tampering(buffer) -> str | None:
        """Why the current state cannot be trusted for a verdict, or None."""
        moved = [
            f"{getattr(o, '__name__', o)}.{n}" for o, n, v in pinned if vars(o).get(n) is not v
        ]
        if moved:
            return "replaced " + ", ".join(moved[:3])
        if sys.stdout is not buffer:
            return "replaced sys.stdout"
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return "set a trace or profile function"
        return None

    def guarded(function, buffer):
        """The learner's function, checked for tampering each time it returns."""

        @functools.wraps(function)
        def call(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            finally:
                reason = tampering(buffer)
                if reason:
                    raise failure(
                        f"while it was being checked, your code {reason}: a check only counts "
                        "when it runs on the course's own functions"
                    )

        return call

    def run(grade_id: str, nonce: str) -> None:
        """Restore, run the grader's copy of one check, and sign a pass."""
        changed = snapshot.changes()
        snapshot.restore()
        if changed:
            stdout.write(f"\n{TAMPER_MARK} {'; '.join(changed[:20])}⟧\n")
        namespace["__builtins__"] = builtins_module
        sys.settrace(None)
        sys.setprofile(None)
        buffer = io.StringIO()  # a C type: no learner code runs when the check prints
        learners = {
            name: value
            for name, value in list(namespace.items())
            if isinstance(value, types.FunctionType) and not snapshot.trusted(value)
        }
        namespace.update({name: guarded(value, buffer) for name, value in learners.items()})
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compiled[grade_id], namespace)  # a failing check raises: no pass line
                reason = tampering(buffer)
        finally:
            for name, value in learners.items():
                if getattr(namespace.get(name), "__wrapped__", None) is value:
                    namespace[name] = value
            stdout.write(buffer.getvalue())
            sys.stdout = stdout  # the kernel's own stream, whatever the notebook put there
            leftover = snapshot.changes()
            if leftover:  # whatever the learner's code patched is undone, pass or fail
                snapshot.restore()
                stdout.write(f"\n{TAMPER_MARK} {'; '.join(leftover[:20])}⟧\n")
        if leftover or reason:
            if not leftover:
                stdout.write(f"\n{TAMPER_MARK} {reason}⟧\n")
            reason = reason or "replaced " + "; ".join(leftover[:3])
            raise failure(
                f"while it was being checked, your code {reason}: a check only counts when it "
                "runs on the course's own functions"
            )
        stdout.write("\n" + pass_line(key, grade_id, nonce) + "\n")
        stdout.flush()

    return types.SimpleNamespace(run=run)
