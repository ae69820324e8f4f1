"""How a check works: run the learner's function and the reference on the same cases, and when
they disagree, say *why* where we can.

A checker for an exercise is a list of `Case`s, the reference implementation, and a catalogue of
known mistakes (`Mistake`: a wrong implementation a learner is likely to write, with a hint). When
the learner's output differs from the reference, the checker looks for the mistake whose output it
matches, then asks the exercise's own `diagnose` function (properties such as "rows sum to 1"),
and only then falls back to "expected X, got Y at index ...".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


class CheckFailed(AssertionError):
    """The learner's function gave a wrong answer; the message names the likely mistake."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a long traceback: the message is what matters.
        return [f"CheckFailed: {self}"]


@dataclass
class Case:
    """One input to an exercise: positional and keyword arguments, and how to describe them."""

    args: tuple
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # how the failure message names this case; derived if None
    atol: float | None = None  # this case's tolerances, when they differ from the checker's
    rtol: float | None = None

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [describe_value(value) for value in self.args]
        parts += [f"{key}={describe_value(value)}" for key, value in self.kwargs.items()]
        return ", ".join(parts)


@dataclass
class Mistake:
    """A likely wrong implementation (same arguments as the exercise) and the hint it earns."""

    hint: str
    wrong_implementation: Callable[..., Any]


def describe_value(value: Any) -> str:
    """Short description of an argument: small tensors in full, larger ones by shape and dtype."""
    if isinstance(value, Built):
        return value.describe()
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__}({value.extra_repr()})"
    if isinstance(value, torch.Tensor):
        dtype = "" if value.dtype == torch.float32 else f", dtype={value.dtype}"
        if value.numel() <= 6:
            if value.is_floating_point():  # 4 significant digits are enough to recognise it
                return _rounded(value.tolist()) + (f" ({value.dtype})" if dtype else "")
            return f"{value.tolist()}" + (f" ({value.dtype})" if dtype else "")
        return f"a tensor of shape {tuple(value.shape)}{dtype}"
    return repr(value)


def _rounded(values) -> str:
    """A nested list of floats written with 4 significant digits."""
    if isinstance(values, list):
        return "[" + ", ".join(_rounded(v) for v in values) + "]"
    return f"{values:.4g}"


def passed(name: str, detail: str) -> None:
    """The one line a check prints when it passes."""
    print(f"✅ {name}: {detail}")


def require_function(candidate: Any, name: str) -> Callable:
    """Fail early, with advice, when a check is handed something that is not a function."""
    if callable(candidate):
        return candidate
    raise CheckFailed(
        f"check.{name} expects your function itself, as in check.{name}({name}); it got a "
        f"{type(candidate).__name__}. Did you call the function (`{name}(...)`) instead of "
        "passing it?"
    )


def call_learner(fn: Callable, name: str, case: Case, signature: str) -> Any:
    """Call the learner's function on a fresh copy of `case`; turn any exception into advice."""
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    return call_plainly(fn, name, f"{name}({case.describe()})", signature, *args, **kwargs)


def call_plainly(fn: Callable, name: str, where: str, signature: str, *args, **kwargs) -> Any:
    """Call the learner's function on these very arguments (for checks whose arguments carry
    state across calls, such as a random generator); turn any exception into advice."""
    try:
        return plain_tensors(fn(*args, **kwargs))
    except NotImplementedError:
        raise CheckFailed(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code"
        ) from None
    except CheckFailed:
        raise
    except Exception as error:  # the learner's code may raise anything; report it plainly
        message = str(error).strip().rstrip(".")
        advice = advice_for_error(error, signature)
        raise CheckFailed(f"{where} raised {type(error).__name__}: {message}.{advice}") from error


def plain_tensors(value: Any) -> Any:
    """`value` with every tensor subclass (in tuples, lists and dicts too) turned into a plain
    torch.Tensor on the same data, still on the autograd graph: a subclass could otherwise
    answer the checker's own comparisons (`__torch_function__`)."""
    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor:
        with torch._C.DisableTorchFunctionSubclass():
            return torch.Tensor.as_subclass(value, torch.Tensor)
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return type(value)(plain_tensors(item) for item in value)
    if type(value) is dict:
        return {key: plain_tensors(item) for key, item in value.items()}
    return value


def advice_for_error(error: Exception, signature: str) -> str:
    """A sentence of advice for the errors learners meet most, or ""."""
    message = str(error)
    if "return_types" in message:
        return (
            " x.max(dim=...) and x.min(dim=...) return a pair (values, indices): use"
            " x.amax(dim=..., keepdim=True), or take .values."
        )
    if isinstance(error, TypeError) and "argument" in message:
        return f" Keep the signature the exercise gives: {signature}."
    if "leaf Variable that requires grad" in message:
        return (
            " Writing into a parameter in place (copy_, fill_, +=) must not be recorded by"
            " autograd: do it inside `with torch.no_grad():`."
        )
    if "cannot be multiplied" in message:
        return (
            " A matrix product has mismatched shapes: PyTorch stores weights as"
            " (out_features, in_features), so multiply by the transpose (x @ W.T)."
        )
    if "view size is not compatible" in message:
        return (
            " .view() needs a contiguous tensor, and a transposed one is not: use .reshape(),"
            " or .contiguous().view()."
        )
    if "must match the size" in message or "broadcast" in message:
        return (
            " The shapes in one of your operations don't fit together: print the shapes"
            " of the tensors you combine (a dimension you reduce with sum or max may need"
            " keepdim=True)."
        )
    return ""


def _same(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> bool:
    """Same shape and values: within tolerance for floats, exactly for integers and booleans."""
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return False
    got = got.detach().to(expected.dtype)
    if expected.is_floating_point():
        return torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True)
    return torch.equal(got, expected)


def _parts(value: Any, count: int) -> list[torch.Tensor] | None:
    """The tensors of an output: [value] for one tensor, the items of a tuple for several."""
    if count == 1:
        return [value] if isinstance(value, torch.Tensor) else None
    if isinstance(value, (tuple, list)) and len(value) == count:
        if all(isinstance(part, torch.Tensor) for part in value):
            return list(value)
    return None


def _all_same(got: list, expected: list, atol: float, rtol: float) -> bool:
    return all(_same(g, e, atol, rtol) for g, e in zip(got, expected, strict=True))


def first_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    """Where two same-shape tensors differ most, in words."""
    difference = (got.detach().double() - expected.double()).abs()
    difference = torch.nan_to_num(difference, nan=float("inf"))
    flat_index = int(difference.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat_index), got.shape))
    return (
        f"at index {index} expected {expected.flatten()[flat_index].item():.6g}, got "
        f"{got.detach().flatten()[flat_index].item():.6g}"
    )


def matching_mistake(
    got: list, mistakes: Sequence[Mistake], case: Case, atol: float, rtol: float
) -> str | None:
    """The hint of the first known mistake whose output equals the learner's output."""
    for mistake in mistakes:
        try:
            wrong = _parts(mistake.wrong_implementation(*case.args, **case.kwargs), len(got))
        except Exception:  # this mistake cannot even run on this input, so it is not the one
            continue
        if wrong is not None and _all_same(got, wrong, atol, rtol):
            return mistake.hint
    return None


def _describe_outputs(names: Sequence[str]) -> str:
    if len(names) == 1:
        return "a torch.Tensor"
    return f"a tuple ({', '.join(names)}) of {len(names)} tensors"


def run_cases(
    name: str,
    learner_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    *,
    signature: str,
    mistakes: Sequence[Mistake] = (),
    diagnose: Callable[[Any, Any, Case], str | None] | None = None,
    atol: float,
    rtol: float,
    differentiable: bool = True,
    output_names: Sequence[str] = ("output",),
    dtype_advice: str = "keep the input's dtype (avoid creating new tensors with a fixed dtype)",
) -> int:
    """Compare `learner_fn` with `reference_fn` on every case; raise `CheckFailed` on the first
    disagreement with the most specific hint available. Returns the number of cases checked.

    A function returns one tensor, or a tuple of tensors named by `output_names`. Floating
    outputs are compared within `atol`/`rtol`, integer and boolean ones exactly. The learner's
    function gets copies of the inputs, so changing an input in place is caught rather than
    spoiling the next case. With `differentiable`, the outputs must stay connected to the
    autograd graph (later notebooks backpropagate through these functions). `diagnose(got,
    expected, case)` gets a tensor, or a tuple for several outputs.
    """
    count = len(output_names)
    default_atol, default_rtol = atol, rtol
    for case in cases:
        atol = default_atol if case.atol is None else case.atol
        rtol = default_rtol if case.rtol is None else case.rtol
        expected = _parts(reference_fn(*case.args, **case.kwargs), count)
        originals = copy.deepcopy(case.args)
        result = call_learner(
            fn=_watch_inputs(learner_fn, originals), name=name, case=case, signature=signature
        )
        where = f"{name}({case.describe()})"
        got = _parts(result, count)
        if got is None:
            kind = type(result).__name__
            advice = " (did you forget `return`?)" if result is None else ""
            raise CheckFailed(
                f"{where} returned a {kind}{advice}; it should return "
                f"{_describe_outputs(output_names)}"
            )
        labels = ["" if count == 1 else f"{output_name}: " for output_name in output_names]
        for label, g, e in zip(labels, got, expected, strict=True):
            if g.device != e.device:
                raise CheckFailed(
                    f"{where} returned {label}a tensor on {g.device}, but the inputs were on "
                    f"{e.device}: keep the result where the inputs are (no .to(device) inside)"
                )
            if g.is_floating_point() and e.is_floating_point() and g.dtype != e.dtype:
                raise CheckFailed(
                    f"{where} returned {label}dtype {g.dtype}, expected {e.dtype}: {dtype_advice}"
                )
        if _all_same(got, expected, atol, rtol):
            for label, g, e in zip(labels, got, expected, strict=True):
                if g.dtype != e.dtype:
                    raise CheckFailed(
                        f"{where} returned {label}dtype {g.dtype}, expected {e.dtype}: "
                        f"{dtype_advice}"
                    )
            continue
        hint = matching_mistake(got, mistakes, case, atol, rtol)
        shapes_match = all(g.shape == e.shape for g, e in zip(got, expected, strict=True))
        if hint is None and diagnose is not None and shapes_match:
            detached = [g.detach() for g in got]
            hint = diagnose(
                detached[0] if count == 1 else tuple(detached),
                expected[0] if count == 1 else tuple(expected),
                case,
            )
        for label, g, e in zip(labels, got, expected, strict=True):
            if hint is None and g.shape != e.shape:
                hint = f"{label}the shape is {tuple(g.shape)}, expected {tuple(e.shape)}"
        for label, g, e in zip(labels, got, expected, strict=True):
            if hint is None and not _same(g, e, atol, rtol):
                hint = label + first_difference(g, e)
        ending = "" if hint.endswith(("?", ".", "!")) else "."
        raise CheckFailed(
            f"{where} is wrong: {hint}{ending} (Tolerance: atol={atol:g}, rtol={rtol:g}.)"
        )
    if differentiable and cases:
        with torch.enable_grad():  # an earlier notebook cell may have switched gradients off
            _require_autograd(learner_fn, name, cases[0])
    return len(cases)


def _watch_inputs(learner_fn: Callable, originals: tuple) -> Callable:
    """Wrap the learner's function so that changing an input tensor in place is reported."""

    def watched(*args, **kwargs):
        result = learner_fn(*args, **kwargs)
        for position, (before, after) in enumerate(zip(originals, args, strict=False)):
            if isinstance(before, torch.Tensor) and not torch.equal(before, after.detach()):
                raise CheckFailed(
                    f"your function changed its input (argument {position + 1}) in place; "
                    "build new tensors instead (e.g. `x = x - m`, not `x -= m`)"
                )
        return result

    return watched


def _require_autograd(learner_fn: Callable, name: str, case: Case) -> None:
    """The outputs must have a gradient path back to the inputs, and backward must work."""
    args = tuple(
        value.detach().clone().requires_grad_(True)
        if isinstance(value, torch.Tensor) and value.is_floating_point()
        else value
        for value in case.args
    )
    out = learner_fn(*args, **case.kwargs)
    outputs = [
        part
        for part in (out if isinstance(out, (tuple, list)) else (out,))
        if isinstance(part, torch.Tensor) and part.is_floating_point()
    ]
    if any(part.grad_fn is None for part in outputs):
        raise CheckFailed(
            f"{name}'s output is cut off from autograd (no gradient can flow back to the input): "
            "use torch operations only, no .numpy(), .item(), .tolist() or torch.tensor(...) on "
            "intermediate results"
        )
    generator = torch.Generator().manual_seed(0)
    total = sum((part * torch.randn(part.shape, generator=generator)).sum() for part in outputs)
    try:
        total.backward()
    except RuntimeError as error:
        raise CheckFailed(
            f"backpropagating through {name} fails: {str(error).splitlines()[0]} An in-place "
            "operation (such as /=, +=, or x[...] = ...) overwrote a value autograd needs: "
            "write e = e / s instead of e /= s"
        ) from error


# --- checking a class the learner wrote: build it, copy the reference's weights, compare -------


@dataclass
class Built:
    """How to build the module a case runs: constructor arguments shared by the learner's class
    and the reference (already built, its weights to be copied), the method to call, and
    whether the module is in training mode (False: eval mode, dropout off)."""

    reference: torch.nn.Module
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    method: str = "forward"
    training: bool = False
    seed: int = 0  # the random state each call starts from: the same dropout masks for both

    def describe(self) -> str:
        parts = [describe_value(value) for value in self.args]
        parts += [f"{key}={describe_value(value)}" for key, value in self.kwargs.items()]
        mode = ", in training mode" if self.training else ""
        return f"a {type(self.reference).__name__}-like module ({', '.join(parts)}){mode}"


def build_like(cls: type, built: Built, name: str) -> torch.nn.Module:
    """An instance of `cls` made with `built`'s constructor arguments, with the reference's
    weights copied in (parameter names must match), in the reference's mode."""
    module = cls(*built.args, **built.kwargs)
    if not isinstance(module, torch.nn.Module):
        raise CheckFailed(f"{name} must be a torch.nn.Module subclass, got {type(module).__name__}")
    ours, theirs = set(module.state_dict()), set(built.reference.state_dict())
    if ours != theirs:
        missing, extra = sorted(theirs - ours), sorted(ours - theirs)
        raise CheckFailed(
            f"{name}'s parameters are not named as the exercise asks, so the reference's weights "
            f"cannot be copied in: missing {missing or 'nothing'}, unexpected "
            f"{extra or 'nothing'}. Name the submodules as the exercise's docstring says."
        )
    try:
        module.load_state_dict(built.reference.state_dict())
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise CheckFailed(
            f"{name}'s parameters have other shapes than the reference's ({first}): check the "
            "sizes you give each layer"
        ) from None
    return module.train(built.training)


def module_runner(cls: type, name: str) -> Callable:
    """A function (built, *inputs) -> output that builds `cls` like the reference and calls it:
    the form `run_cases` compares. Building and calling run with the global random state saved
    and restored (nothing a check does changes later draws), and the call starts from
    `built.seed`, as the reference's does: in training mode both draw the same dropout masks."""

    def run(built: Built, *inputs, **options):
        with torch.random.fork_rng(devices=[]):
            module = build_like(cls, built, name)
        return _seeded_call(module, built, inputs, options)

    return run


def reference_runner(built: Built, *inputs, **options):
    return _seeded_call(built.reference.train(built.training), built, inputs, options)


def _seeded_call(module: torch.nn.Module, built: Built, inputs: tuple, options: dict):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(built.seed)
        return getattr(module, built.method)(*inputs, **options)


def require_value_error(build: Callable[[], Any], call: str, advice: str) -> None:
    """Fail unless `build()` (the learner's constructor on arguments it must refuse, written out
    in `call` for the message) raises a ValueError; `advice` says what the error should say."""
    try:
        with torch.random.fork_rng(devices=[]):
            build()
    except ValueError:
        return
    except Exception as error:  # noqa: BLE001 - any other failure is the learner's to fix
        raise CheckFailed(
            f"{call} raised {type(error).__name__}: {error}. Raise a ValueError that {advice}"
        ) from None
    raise CheckFailed(f"{call} was accepted: raise a ValueError that {advice}")


def require_class(candidate: Any, name: str) -> type:
    """Fail early, with advice, when a check is handed something that is not a class."""
    if isinstance(candidate, type):
        return candidate
    raise CheckFailed(
        f"check.{name} expects your class itself, as in check.{name}({name}); it got a "
        f"{type(candidate).__name__}. Did you pass an instance ({name}(...)) instead of the class?"
    )


def run_module_cases(
    name: str,
    learner_class: type,
    cases: Sequence[Case],
    *,
    signature: str,
    mistakes: Sequence[Mistake] = (),
    diagnose: Callable[[Any, Any, Case], str | None] | None = None,
    atol: float,
    rtol: float,
    output_names: Sequence[str] = ("output",),
) -> int:
    """`run_cases` for a class: each case's first argument is a `Built`; the learner's class and
    each mistake's class (a `Mistake` whose `wrong_implementation` is a class) are built like the
    reference with its weights, and their `built.method` outputs compared with the reference's.
    Dropout and random draws are switched off by evaluating in eval mode unless a case says
    otherwise."""
    cls = require_class(learner_class, name)
    wrapped = [
        Mistake(mistake.hint, module_runner(mistake.wrong_implementation, name))
        for mistake in mistakes
    ]
    return run_cases(
        name,
        module_runner(cls, name),
        reference_runner,
        cases,
        signature=signature,
        mistakes=wrapped,
        diagnose=diagnose,
        atol=atol,
        rtol=rtol,
        output_names=output_names,
    )
