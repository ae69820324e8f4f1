"""Signs of tampering or shortcuts in a submission's code, for the instructor to look at.

`flags_for(cells)` reads the code cells the grader will run (never runs them) and returns one line
per sign found, naming the cell:
- an exercise cell that uses the course's own reference for the thing it should write
  (`def softmax(...): return course_lib.softmax.softmax(...)`, or subclassing the reference);
- assignments to (or `setattr`/`del` on) the checkers, `course_lib`, `torch`, `numpy`,
  `builtins` or `sys.modules`;
- starting processes (`subprocess`, `os.system`, `os.fork`, `multiprocessing`, `!` shell lines);
- deleting or moving files (`os.remove`, `shutil.rmtree`, `Path.unlink`, `rm` in a shell line);
- reaching into the interpreter (`gc`, `ctypes`, frames, closures, IPython's hooks), or running
  code built at run time (`exec`, `eval`, `__import__`, `importlib`).

Flags are not penalties: a submission can be fine and still use `os.remove` on its own file. The
grader reports them beside the points, and an instructor decides. Static reading cannot see
everything (code can be assembled at run time), which is why run-time signs (functions the grader
had to put back, a check with no signed report, processes left running) are flagged as well.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

GUARDED_ROOTS = {"course_lib", "torch", "numpy", "builtins", "sys"}
SPAWNING = {
    "subprocess": None,  # any call into the module
    "multiprocessing": None,
    "pty": None,
    "os": {
        "system",
        "popen",
        "fork",
        "forkpty",
        "execv",
        "execve",
        "execvp",
        "execl",
        "execlp",
        "spawnv",
        "spawnl",
        "spawnve",
        "spawnvp",
        "posix_spawn",
        "posix_spawnp",
        "kill",
        "killpg",
        "setsid",
        "daemon",
    },
}
DELETING = {
    "os": {"remove", "unlink", "rmdir", "removedirs", "rename", "replace", "truncate"},
    "shutil": {"rmtree", "move", "copytree"},
}
DELETING_METHODS = {"unlink", "rmdir", "rmtree"}  # Path(...).unlink() and the like
INTROSPECTION_MODULES = {"gc", "ctypes", "inspect", "_thread", "threading", "signal", "traceback"}
INTROSPECTION_ATTRIBUTES = {
    "__closure__",
    "__globals__",
    "__code__",
    "__builtins__",
    "__subclasses__",
    "co_consts",
    "f_back",
    "f_globals",
    "f_locals",
    "_getframe",
    "tb_frame",
    "events",
    "set_custom_exc",
    "input_transformers_cleanup",
    "input_transformers_post",
    "ast_transformers",
    "user_ns",
    "__dict__",
    "_current_frames",
    "settrace",
    "setprofile",
    "redirect_stdout",
    "redirect_stderr",
}
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "setattr", "delattr", "globals"}
SHELL_DELETE_WORDS = (" rm ", " rmdir ", " mv ", "shred ", "unlink ")


@dataclass
class Cell:
    """A code cell the grader runs: its label ("cell 7" or a grade_id), its code, and whether it
    is an exercise (solution) cell."""

    label: str
    code: str
    exercise: bool = False


def flags_for(cells: list[Cell]) -> list[str]:
    """One line per sign of tampering or shortcut, in cell order, without repeats."""
    aliases: dict[str, str] = {}  # local name -> dotted module path or object path
    found: list[str] = []
    for cell in cells:
        python, shell_lines = _as_python(cell.code)
        for line in shell_lines:
            found.append(f"{cell.label}: runs a shell command ({_short(line)})")
            padded = f" {line} "
            if any(word in padded for word in SHELL_DELETE_WORDS):
                found.append(f"{cell.label}: deletes or moves files from a shell command")
        try:
            tree = ast.parse(python)
        except SyntaxError:
            continue  # the cell will fail when run; nothing to read here
        _collect_aliases(tree, aliases)
        found += [f"{cell.label}: {sign}" for sign in _signs(tree, aliases, cell)]
    unique = []
    for line in found:
        if line not in unique:
            unique.append(line)
    return unique


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_python(code: str) -> tuple[str, list[str]]:
    """The cell as plain Python (IPython's magics and `!` lines blanked) and its shell lines."""
    lines, shell = [], []
    in_cell_magic = False
    for number, line in enumerate(code.splitlines()):
        stripped = line.lstrip()
        if number == 0 and stripped.startswith("%%"):
            in_cell_magic = True
            magic = stripped[2:].split()[0] if stripped[2:].split() else ""
            if magic in {"bash", "sh", "script", "system", "sx"}:
                shell.append(code)
                return "", shell
        if in_cell_magic:
            lines.append("")
            continue
        if stripped.startswith("!") or stripped.startswith(("%system", "%sx", "%sh")):
            shell.append(stripped.lstrip("!%"))
            lines.append("")
        elif stripped.startswith("%") or stripped.startswith("?") or stripped.endswith("?"):
            lines.append("")
        else:
            if "= !" in line or "=!" in line:
                shell.append(line.split("!", 1)[1])
                lines.append("")
                continue
            lines.append(line)
    return "\n".join(lines), shell


def _collect_aliases(tree: ast.AST, aliases: dict[str, str]) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.asname:
                    aliases[name.asname] = name.name
                else:
                    root = name.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`torch.nn.functional.softmax` for an attribute chain, with import aliases resolved."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call):  # Path(...).unlink(): the call's own name heads the chain
        inner = _dotted(node.func, aliases)
        if inner is None:
            return None
        parts.append(inner)
        return ".".join(reversed(parts))
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _guarded(path: str | None) -> bool:
    return path is not None and path.split(".")[0] in GUARDED_ROOTS | {"check"}


def _signs(tree: ast.AST, aliases: dict[str, str], cell: Cell) -> list[str]:
    signs = []
    defined = {
        node.name.lower()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, (ast.Attribute, ast.Subscript)):
                        path = _dotted(
                            part.value if isinstance(part, ast.Subscript) else part, aliases
                        )
                        if _guarded(path) and (
                            isinstance(part, ast.Attribute) or path.startswith("sys.modules")
                        ):
                            verb = "deletes" if isinstance(node, ast.Delete) else "assigns to"
                            signs.append(f"{verb} {path}")
                        break
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = (
                [n.name for n in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for name in names:
                root = name.split(".")[0]
                if root in INTROSPECTION_MODULES:
                    signs.append(f"imports {name} (reaches into the interpreter)")
                if root == "importlib":
                    signs.append(f"imports {name} (loads modules at run time)")
        elif isinstance(node, ast.Attribute) and node.attr in INTROSPECTION_ATTRIBUTES:
            signs.append(f"uses .{node.attr} (reaches into the interpreter)")
        elif isinstance(node, ast.Attribute) and _dotted(node, aliases) == "sys.modules":
            signs.append("uses sys.modules (reaches into the interpreter)")
        elif isinstance(node, ast.Call):
            signs += _call_signs(node, aliases, cell, defined)
        elif isinstance(node, ast.ClassDef) and cell.exercise:
            for base in node.bases:
                path = _dotted(base, aliases)
                if _is_reference(path, defined):
                    signs.append(f"exercise cell subclasses the course's reference {path}")
    if cell.exercise:
        inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for node in ast.walk(tree):
            if id(node) in inner:
                continue  # `course_lib.softmax` inside `course_lib.softmax.softmax`
            if isinstance(node, ast.Name) and node.id.lower() in defined:
                continue  # the cell's own definition, not an import of the same name
            if isinstance(node, (ast.Attribute, ast.Name)) and isinstance(
                getattr(node, "ctx", None), ast.Load
            ):
                path = _dotted(node, aliases)
                if _is_reference(path, defined):
                    signs.append(f"exercise cell uses the course's reference {path}")
    return signs


def _is_reference(path: str | None, defined: set[str]) -> bool:
    """A course_lib object (not a checker) named like something the exercise cell defines."""
    if path is None or not path.startswith("course_lib.") or path.startswith("course_lib.check"):
        return False
    return path.rsplit(".", 1)[-1].lower() in defined


def _call_signs(node: ast.Call, aliases: dict[str, str], cell: Cell, defined: set) -> list[str]:
    signs = []
    path = _dotted(node.func, aliases) or ""
    root, _, rest = path.partition(".")
    name = path.rsplit(".", 1)[-1]
    if root in SPAWNING and (SPAWNING[root] is None or rest in SPAWNING[root]):
        signs.append(f"starts or signals processes ({path})")
    if root in DELETING and rest in DELETING[root]:
        signs.append(f"deletes or moves files ({path})")
    elif "." in path and name in DELETING_METHODS:
        signs.append(f"deletes files (.{name}())")
    if path in DYNAMIC_CALLS or path.startswith("importlib"):
        signs.append(f"calls {path}() (code or attributes chosen at run time)")
        if path in {"setattr", "delattr"} and node.args:
            target = _dotted(node.args[0], aliases)
            if _guarded(target):
                signs.append(f"{path}() on {target}")
    if path == "get_ipython" or path.startswith("get_ipython."):
        signs.append("uses get_ipython() (IPython's hooks)")
    return signs
