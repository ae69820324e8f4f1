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
import inspect
import math
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


def shape_sentence(got: tuple, expected: tuple) -> str:
    """A shape mismatch in words, naming the likely cause where the shapes show it."""
    base = f"the shape is {got} where {expected} was expected"
    if len(got) == len(expected) and sorted(got) == sorted(expected):
        moved = [axis for axis in range(len(got)) if got[axis] != expected[axis]]
        if len(moved) == 2:
            a, b = moved
            return (
                f"{base}: axes {a} and {b} are swapped (a transpose missing or one too many, or "
                "the sizes in a reshape or permute in the wrong order)"
            )
        return f"{base}: the same axes in another order (check the order in permute/reshape)"
    if len(got) == len(expected) - 1:
        for axis in range(len(expected)):
            if expected[:axis] + expected[axis + 1 :] == got:
                return (
                    f"{base}: axis {axis} (of size {expected[axis]}) is missing: a sum, mean or "
                    "max without keepdim=True, or a squeeze too many?"
                )
    if len(got) == len(expected) + 1:
        for axis in range(len(got)):
            if got[:axis] + got[axis + 1 :] == expected:
                size = got[axis]
                what = "an extra axis of size 1" if size == 1 else f"an extra axis of size {size}"
                return (
                    f"{base}: {what} at position {axis}: an unsqueeze, keepdim=True or indexing "
                    "with None too many?"
                )
    if len(got) == len(expected):
        differ = [axis for axis in range(len(got)) if got[axis] != expected[axis]]
        if len(differ) == 1 and abs(got[differ[0]] - expected[differ[0]]) == 1:
            axis = differ[0]
            longer = "longer" if got[axis] > expected[axis] else "shorter"
            return (
                f"{base}: axis {axis} is one {longer} than it should be: an off-by-one (a start "
                "or end token, a range's end, or a shift by one)?"
            )
    if not got and expected:
        return f"{base}: a single number where a tensor was expected: a reduction too many?"
    if math.prod(got) == math.prod(expected):
        return f"{base}: the same number of values in another shape (the sizes given to a reshape)"
    return base


def output_relation(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float):
    """How a same-shape wrong output relates to the expected one, in words, or None: a flipped
    sign, a constant factor or offset, probabilities for log-probabilities (or back), or the last
    two axes swapped."""
    if not (got.is_floating_point() and expected.is_floating_point()):
        return None
    got, expected = got.to(expected.dtype), expected
    finite = torch.isfinite(expected) & torch.isfinite(got)
    if finite.sum() < 2:
        return None
    g, e = got[finite], expected[finite]

    def close(a, b):
        return torch.allclose(a, b, atol=atol * 10, rtol=max(rtol * 10, 1e-4))

    if close(g, -e):
        return "the sign is flipped everywhere (a minus too many or missing?)"
    if close(g.exp(), e) or close(g, e.log()):
        return (
            "these are the logarithms of the expected values: log-probabilities where "
            "probabilities were expected?"
        )
    if close(g, e.exp()) or close(g.log(), e):
        return (
            "these are the exponentials of the expected values: probabilities where "
            "log-probabilities were expected (a log or log_softmax missing)?"
        )
    if got.ndim >= 2 and got.shape[-1] == got.shape[-2]:
        if torch.allclose(got, expected.transpose(-2, -1), atol=atol, rtol=rtol, equal_nan=True):
            return "the last two axes are swapped (a transpose missing or one too many)"
    nonzero = e.abs() > 1e-6
    if nonzero.sum() >= 2:
        ratio = g[nonzero] / e[nonzero]
        factor = ratio.median()
        if not close(factor, torch.ones_like(factor)) and close(g, e * factor):
            return (
                f"every value is {factor.item():.4g} times the expected one: a scale factor "
                "missing or one too many (such as 1/sqrt(d), a mean for a sum, or a temperature)"
            )
    shift = (g - e).median()
    if not close(shift, torch.zeros_like(shift)) and close(g, e + shift):
        return (
            f"every value is off by the same {shift.item():.4g}: a term added to everything, or "
            "one missing"
        )
    return None


def matching_error(
    error: BaseException | None, mistakes: Sequence[Mistake], case: Case
) -> str | None:
    """The hint of the first known mistake that raises the same error (type and message) as the
    learner's code on this case: a mistake that crashes is named too."""
    if error is None or isinstance(error, (CheckFailed, NotImplementedError)):
        return None
    for mistake in mistakes:
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        try:
            mistake.wrong_implementation(*args, **kwargs)
        except Exception as theirs:  # noqa: BLE001 - the point is to compare errors
            if type(theirs) is type(error) and str(theirs) == str(error):
                return mistake.hint
    return None


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
        where = f"{name}({case.describe()})"
        try:
            result = call_learner(
                fn=_watch_inputs(learner_fn, originals), name=name, case=case, signature=signature
            )
        except CheckFailed as failure:
            hint = matching_error(failure.__cause__, mistakes, case)
            if hint is None:
                raise
            error = failure.__cause__
            raise CheckFailed(
                f"{where} raised {type(error).__name__} ({str(error).strip()[:120]}): {hint}"
            ) from None
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
                hint = label + shape_sentence(tuple(g.shape), tuple(e.shape))
        for label, g, e in zip(labels, got, expected, strict=True):
            if hint is None and not _same(g, e, atol, rtol):
                relation = output_relation(g.detach(), e, atol, rtol)
                hint = label + (relation or first_difference(g, e))
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


# --- catalogues: the named mistakes each checker recognises ---------------------------------------


def recognises(*catalogues: Sequence[Mistake]) -> Callable:
    """Decorator: attach the named mistakes a checker recognises as `checker.mistakes`, each a
    wrong implementation in the learner's form (a function, or a class) with its hint. The tests
    plant every one of them, and the instructors' guide lists them."""

    def attach(checker: Callable) -> Callable:
        checker.mistakes = [mistake for catalogue in catalogues for mistake in catalogue]
        return checker

    return attach


def _rebound(reference: Callable, args: tuple, kwargs: dict, change: Callable[[dict], None]):
    """Call `reference` with its arguments, by name, changed by `change(arguments)`."""
    bound = inspect.signature(reference).bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    change(arguments)
    return reference(**arguments)


def swapped_arguments(reference: Callable, *pairs: tuple[str, str]) -> list[Mistake]:
    """For each pair of argument names: the reference with those two arguments exchanged."""
    mistakes = []
    for first, second in pairs:

        def swap(arguments, first=first, second=second):
            arguments[first], arguments[second] = arguments[second], arguments[first]

        def wrong(*args, swap=swap, **kwargs):
            return _rebound(reference, args, kwargs, swap)

        hint = (
            f"`{first}` and `{second}` are used the other way round (the result is what the "
            "reference gives with the two exchanged)"
        )
        mistakes.append(Mistake(hint, wrong))
    return mistakes


def ignored_arguments(reference: Callable, *names: str) -> list[Mistake]:
    """For each argument name: the reference without it (None where it defaults to None, zeros
    otherwise): a mask not applied, a bias or term left out."""
    defaults = inspect.signature(reference).parameters
    mistakes = []
    for name in names:
        by_none = defaults[name].default is None

        def drop(arguments, name=name, by_none=by_none):
            value = arguments[name]
            arguments[name] = None if by_none else torch.zeros_like(value)

        def wrong(*args, drop=drop, **kwargs):
            return _rebound(reference, args, kwargs, drop)

        what = "is not applied" if by_none else "is not used (a bias or term left out?)"
        hint = f"`{name}` {what}: the result is what the reference gives without it"
        mistakes.append(Mistake(hint, wrong))
    return mistakes


def transposed_arguments(reference: Callable, *names: str) -> list[Mistake]:
    """For each argument name: the reference with that matrix transposed (PyTorch stores a
    weight as (out_features, in_features))."""
    mistakes = []
    for name in names:

        def flip(arguments, name=name):
            arguments[name] = arguments[name].transpose(-2, -1)

        def wrong(*args, flip=flip, **kwargs):
            return _rebound(reference, args, kwargs, flip)

        hint = (
            f"`{name}` is used transposed: PyTorch stores a weight as (out_features, "
            "in_features), so multiply by its transpose (x @ W.T)"
        )
        mistakes.append(Mistake(hint, wrong))
    return mistakes


def with_knobs(cls: type, **knobs) -> type:
    """`cls`, a course module written out with knobs (`self.knobs`), with these knobs turned:
    one wrong implementation of a catalogue."""
    return type(cls.__name__, (cls,), {"knobs": knobs})


def _with_parameters(cls: type, replace: Callable[[torch.nn.Module], dict]) -> type:
    """`cls` whose forward pass runs with some parameters replaced (`replace(module)` gives
    {name: tensor}), through torch.func.functional_call: nothing is changed in place."""

    class Wrong(cls):
        def forward(self, *args, **kwargs):
            if self.__dict__.get("_replacing"):
                return super().forward(*args, **kwargs)
            self.__dict__["_replacing"] = True
            try:
                return torch.func.functional_call(self, replace(self), args, kwargs)
            finally:
                self.__dict__["_replacing"] = False

    Wrong.__name__ = Wrong.__qualname__ = cls.__name__
    return Wrong


def without_parameters(cls: type, *names: str) -> list[Mistake]:
    """For each parameter name (as in `state_dict`): the class with that parameter set to zero:
    a bias or term left out."""
    mistakes = []
    for name in names:

        def replace(module, name=name):
            return {name: torch.zeros_like(module.get_parameter(name))}

        hint = (
            f"`{name}` is not used (the result is what the course's module gives with it set "
            "to zero): a bias or term left out?"
        )
        mistakes.append(Mistake(hint, _with_parameters(cls, replace)))
    return mistakes


def swapped_submodules(cls: type, *pairs: tuple[str, str]) -> list[Mistake]:
    """For each pair of same-shaped submodules: the class with their weights exchanged (keys
    projected with the values' layer, a gate's weights used for another gate)."""
    mistakes = []
    for first, second in pairs:

        def replace(module, first=first, second=second):
            a = dict(module.get_submodule(first).named_parameters())
            b = dict(module.get_submodule(second).named_parameters())
            return {
                **{f"{first}.{name}": value for name, value in b.items()},
                **{f"{second}.{name}": value for name, value in a.items()},
            }

        hint = f"`{first}` and `{second}` are used the other way round"
        mistakes.append(Mistake(hint, _with_parameters(cls, replace)))
    return mistakes


def swapped_inputs(cls: type, *pairs: tuple[str, str], note: str = "") -> list[Mistake]:
    """For each pair of forward's argument names: the class with those inputs exchanged."""
    mistakes = []
    for first, second in pairs:

        class Wrong(cls):
            def forward(self, *args, _pair=(first, second), **kwargs):
                def swap(arguments):
                    arguments[_pair[0]], arguments[_pair[1]] = (
                        arguments[_pair[1]],
                        arguments[_pair[0]],
                    )

                parent = super().forward
                return _rebound(parent, args, kwargs, swap)

        Wrong.__name__ = Wrong.__qualname__ = cls.__name__
        hint = f"the inputs `{first}` and `{second}` are used the other way round{note}"
        mistakes.append(Mistake(hint, Wrong))
    return mistakes


def ignored_inputs(cls: type, *names: str) -> list[Mistake]:
    """For each of forward's arguments that defaults to None (a mask): the class ignoring it."""
    mistakes = []
    for name in names:

        class Wrong(cls):
            def forward(self, *args, _name=name, **kwargs):
                def drop(arguments):
                    arguments[_name] = None

                return _rebound(super().forward, args, kwargs, drop)

        Wrong.__name__ = Wrong.__qualname__ = cls.__name__
        hint = f"`{name}` is not applied: the result is what you get without it"
        mistakes.append(Mistake(hint, Wrong))
    return mistakes
