"""The Jinja environment mappings render in: jinja2's immutable sandbox, bounded in size and time.

Every render (and every `when`) runs under `render` / `evaluate_condition`, which turn whatever
goes wrong into a RenderError: a mapping can fail a delivery, never crash a worker, the app's
start or `bridge check-config`. The bounds:
  - sizes (limits.py): operators, filters and string methods are refused before they make a
    string or list over 100,000 items or an integer over 4,300 digits (unary - and +, and
    binary -, / and //, are left alone: they cannot make a result much larger than their
    operands); lipsum, cycler, joiner and namespace are gone (namespace is the only way to
    accumulate across loop iterations);
  - output: at most 100,000 characters written by a render, macros and `{% set %}` blocks included;
  - time: a deadline of 2 s, checked in the sandbox's hooks and at every loop iteration (not
    SIGALRM: RQ uses it for job timeouts).
Outside a render (jinja2 folds constants while compiling) the time and output bounds are off.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined
from jinja2 import nodes as jinja_nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from rq.timeouts import BaseTimeoutException

from bridge.errors import MissingDataError, RenderError
from bridge.mappings import limits
from bridge.mappings.limits import MAX_ITEMS, MAX_PRINTED, check_printed, check_result, check_size
from bridge.mappings.nulls import EmptyObjectError, NullField, field_of, field_of_null, is_none

RENDER_SECONDS = 2.0
MAX_OUTPUT = MAX_ITEMS
"""Characters one render may write (a body is 1,024; a long parameter is cut, not failed)."""
REMOVED_GLOBALS = ("lipsum", "cycler", "joiner", "namespace")
_REMOVED_GLOBAL_ERRORS = frozenset(f"{name!r} is undefined" for name in REMOVED_GLOBALS)


class _Bounds(threading.local):
    """The running render's deadline and output allowance, per thread (the web app is threaded)."""

    deadline: float = math.inf
    output_left: float = math.inf


_BOUNDS = _Bounds()


def check_deadline() -> None:
    if time.monotonic() > _BOUNDS.deadline:
        raise RenderError(f"render took longer than {RENDER_SECONDS:g} s")


def _start_bounds() -> None:
    _BOUNDS.deadline = time.monotonic() + RENDER_SECONDS
    _BOUNDS.output_left = MAX_OUTPUT


def _end_bounds() -> None:
    _BOUNDS.deadline = _BOUNDS.output_left = math.inf


def render(template: Template, context: Mapping[str, Any]) -> str:
    """The template's output under the bounds; any failure is a RenderError."""
    _start_bounds()
    try:
        return _collect(template.generate(context))
    except BaseTimeoutException:
        raise  # RQ's job timeout is the worker's to handle, not a mapping mistake
    except Exception as exc:
        raise as_render_error(exc) from None
    finally:
        _end_bounds()


def evaluate_condition(expression: TemplateExpression, context: Mapping[str, Any]) -> bool:
    """A `when` expression's truth under the same bounds; any failure is a RenderError."""
    _start_bounds()
    try:
        return bool(expression(**context))
    except BaseTimeoutException:
        raise
    except Exception as exc:
        raise as_render_error(exc) from None
    finally:
        _end_bounds()


def _collect(chunks: Iterable[str]) -> str:
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        _check_output(size)
        check_deadline()
        out.append(chunk)
    return "".join(out)


def _check_output(size: float) -> None:
    if size > MAX_OUTPUT:
        raise RenderError(f"output too large: more than {MAX_OUTPUT:,} characters")


def as_render_error(exc: Exception) -> RenderError:
    if isinstance(exc, RenderError):
        return exc
    if isinstance(exc, EmptyObjectError):
        return MissingDataError(str(exc))
    if isinstance(exc, RecursionError):
        return RenderError("too deeply nested (a macro calling itself, or brackets thousands deep?)")
    if isinstance(exc, MemoryError):
        return RenderError("ran out of memory")
    if isinstance(exc, TemplateError | ArithmeticError | TypeError | ValueError | LookupError):
        return RenderError(describe(exc))
    return RenderError(f"{type(exc).__name__}: {exc}")


def describe(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    text = str(exc)
    if text in _REMOVED_GLOBAL_ERRORS:
        return f"{text}: {', '.join(REMOVED_GLOBALS)} are not available in mappings"
    text = text.replace("'dict object'", "the object").replace("'None' has no attribute", "None (null) has no attribute")
    return f"undefined field: {text}" if "has no attribute" in text or "is undefined" in text else text


# -- the code generator: guarded loops, bounded `~` -----------------------------------------


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: jinja_nodes.Template, frame: Frame | None = None) -> None:
        # A loop with an empty body calls no hook: its iterable is wrapped so each iteration
        # checks the deadline. Done before code generation, which collects the names it uses.
        for loop in list(node.find_all(jinja_nodes.For)):
            guard = jinja_nodes.EnvironmentAttribute("guard_loop", lineno=loop.iter.lineno)
            loop.iter = jinja_nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.iter.lineno)
            loop.iter.set_environment(self.environment)
        super().visit_Template(node, frame)

    @optimizeconst
    def visit_Concat(self, node: jinja_nodes.Concat, frame: Frame) -> None:
        # jinja2 joins `a ~ b` with str() of each operand: a list holding one long string many
        # times prints as gigabytes, so the parts are measured first.
        self.write("environment.join_text((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


# -- the environment ------------------------------------------------------------------------


def _count_output(value: Any) -> Any:
    """Every `{{ ... }}`, in macros and `{% set %}` blocks too, spends from the render's output."""
    _BOUNDS.output_left -= limits.printed_size(value, MAX_OUTPUT)
    _check_output(MAX_OUTPUT - _BOUNDS.output_left)
    return value


def _bounded_concat(parts: Iterable[str]) -> str:
    """How jinja2 joins a macro's or a `{% set %}` block's output."""
    parts = parts if isinstance(parts, list) else list(parts)
    check_deadline()
    _check_output(sum(map(len, parts)))
    return "".join(parts)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with the bounds above. Dict keys win over dict methods (Stripe
    objects have fields named `items`, `lines`, `keys`) and a null field is not a value (nulls.py)."""

    intercepted_binops = limits.INTERCEPTED_BINOPS
    code_generator_class = _BoundedCodeGenerator
    concat = staticmethod(_bounded_concat)

    def __init__(self, own_filters: Mapping[str, Callable[..., Any]], usage: Mapping[str, str]):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, finalize=_count_output)
        for name in REMOVED_GLOBALS:
            del self.globals[name]
        # pprint's output is lines indented by depth: a parameter cannot hold line breaks.
        del self.filters["pprint"]
        self.filters = {name: bounded_filter(name, func, counts=name not in COUNT_FREE_FILTERS) for name, func in self.filters.items()}
        self.filters.update({name: bounded_filter(name, func, counts=False, usage=usage.get(name)) for name, func in own_filters.items()})
        self.tests["none"] = is_none

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        limits.check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        check_result(operator, result)
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        if _is_str_method(obj):
            args = _check_str_method(obj.__name__, obj.__self__, args, kwargs)
        try:
            result = super().call(context, obj, *args, **kwargs)
        except TypeError as exc:
            raise _call_error(_name_of(obj), exc) from None
        check_result(_name_of(obj), result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_deadline()
        if isinstance(obj, (dict, Mapping)):  # dict first: the ABC check is slower
            return field_of(obj, attribute)
        if isinstance(obj, NullField):
            return field_of_null(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        check_deadline()
        if isinstance(obj, (dict, Mapping)):
            return field_of(obj, argument)
        if isinstance(obj, NullField):
            return field_of_null(obj, argument)
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map, with each field's width and size checked as it is formatted."""
        if not _is_str_method(value) or value.__name__ not in ("format", "format_map"):
            return None
        template, by_name = str(value.__self__), value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if by_name:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return _BoundedFormatter(self).vformat(template, args, kwargs)

        return bounded_format

    @staticmethod
    def guard_loop(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            check_deadline()
            yield item

    @staticmethod
    def join_text(parts: tuple[Any, ...]) -> str:
        check_size("'~'", sum(limits.printed_size(part, MAX_ITEMS) for part in parts))
        return "".join(map(str, parts))


class _BoundedFormatter(SandboxedFormatter):
    def __init__(self, env: BoundedSandbox):
        super().__init__(env)
        self.written = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        check_printed("a str.format field", value, MAX_ITEMS)  # before !r or !s prints it
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        limits.check_format_spec(format_spec)
        check_printed("a str.format field", value, MAX_ITEMS)
        text = super().format_field(value, format_spec)
        self.written += len(text)
        check_size("str.format", self.written)
        return text


# -- string methods -------------------------------------------------------------------------


def _is_str_method(obj: Any) -> bool:
    return isinstance(obj, types.BuiltinMethodType | types.MethodType) and isinstance(getattr(obj, "__self__", None), str)


def _check_str_method(name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Refuse a str method whose result would be too large; str.join's items come back as a list."""
    what = f"str.{name}"
    if name in ("center", "ljust", "rjust", "zfill"):
        check_size(what, limits.padded_size(text, _arg(args, 0)))
    elif name == "expandtabs":
        check_size(what, limits.expanded_size(text, _arg(args, 0, kwargs.get("tabsize", 8))))
    elif name == "replace":
        check_size(what, limits.replaced_size(text, _arg(args, 0), _arg(args, 1), _arg(args, 2)))
    elif name == "join" and args:
        items = materialize(args[0])
        check_size(what, limits.joined_size(text, items))
        args = (items, *args[1:])
    return args


def _arg(args: tuple[Any, ...], index: int, default: Any = None) -> Any:
    return args[index] if len(args) > index else default


def materialize(values: Any) -> Any:
    """An iterator (a filter's lazy result) as a list, refused as soon as it prints too large; other
    values as they are."""
    if not isinstance(values, Iterator) or isinstance(values, LoopContext):
        return values
    items, size = [], 0
    for item in values:
        check_deadline()
        size += limits.printed_size(item, MAX_PRINTED)
        check_size("the sequence", size, MAX_PRINTED)
        items.append(item)
    return items


def _call_error(name: str, exc: TypeError) -> RenderError:
    """A TypeError from a call, naming what was called (Python's message often does already)."""
    text = str(exc)
    return RenderError(text if name in text else f"{name}: {text}")


def _name_of(obj: Any) -> str:
    name = getattr(obj, "__name__", None) or getattr(obj, "name", None) or type(obj).__name__
    return "range" if name == "safe_range" else name  # the sandbox's range, as the mapping calls it


# -- filters --------------------------------------------------------------------------------

_PLAIN = (str, int, float, type(None))

COUNT_FREE_FILTERS = frozenset({"default", "d", "format"})
"""Built-in filters whose integer arguments are values, not counts: | default(150000), and
| format(amount), whose widths are checked in the format string."""


def bounded_filter(name: str, func: Callable[..., Any], *, counts: bool = True, usage: str | None = None) -> Callable[..., Any]:
    """`func` with its inputs, integer arguments and result checked, and called with the wrong
    arguments, a message about the mapping (`usage`, or the filter's parameters) rather than
    Python's "do_center() takes from 1 to 2 positional arguments".

    jinja2 calls filters directly (`environment.filters[name]` is looked up once per template and
    called without the sandbox's `call`), so the check has to be in the filter itself."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # the context/environment
    precheck = _FILTER_CHECKS.get(name)
    signature = _signature(func)

    def type_error(exc: TypeError, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> RenderError:
        if signature is None or _fits(signature, args, kwargs):
            return RenderError(f"{name}: {exc}")  # the arguments fit: something went wrong inside
        return RenderError(usage or f"{name} was given the wrong arguments: it takes {_parameters(name, signature, skip)}")

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        args = _checked_inputs(name, args, skip)
        if kwargs:
            _checked_inputs(name, tuple(kwargs.values()), 0)
        if counts:
            limits.check_integer_arguments(name, args[skip + 1 :])
            limits.check_integer_arguments(name, kwargs.values())
        try:
            if precheck is not None and signature is not None:
                precheck(name, _bind(signature, args, kwargs))
            result = func(*args, **kwargs)
        except TypeError as exc:
            raise type_error(exc, args, kwargs) from None
        check_result(name, result)
        return result

    return bounded


def _checked_inputs(name: str, args: tuple[Any, ...], skip: int) -> tuple[Any, ...]:
    """`args` with lazy iterators made lists; each small enough to print. Plain values, what
    filters are given nearly always, pass at the cost of one isinstance each."""
    for value in args[skip:]:
        if not isinstance(value, _PLAIN):
            break
    else:
        return args
    args = (*args[:skip], *map(materialize, args[skip:]))
    for value in args[skip:]:
        check_printed(name, value)
    return args


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _fits(signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _parameters(name: str, signature: inspect.Signature, skip: int) -> str:
    """`center(width=80)`: the parameters a mapping passes, after the filtered value."""
    shown = [str(p.replace(annotation=inspect.Parameter.empty)) for p in list(signature.parameters.values())[skip + 1 :]]
    return f"{name}({', '.join(shown)})" if shown else f"no arguments: {{{{ value | {name} }}}}"


def _bind(signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


# Filters whose result can be much larger than their inputs, by jinja2 3.1's parameter names.
def _check_replace(name: str, a: dict[str, Any]) -> None:
    check_size(name, limits.replaced_size(str(a["s"]), str(a["old"]), str(a["new"]), a["count"]))


def _check_join(name: str, a: dict[str, Any]) -> None:
    # The items' printed size bounds what their attribute prints as: a looser limit then, as a
    # list of line items is larger than the descriptions joined (the result is checked after).
    limit = MAX_ITEMS if a["attribute"] is None else MAX_PRINTED
    check_size(name, limits.joined_size(a["d"], list(a["value"]), limit), limit)


def _check_indent(name: str, a: dict[str, Any]) -> None:
    check_size(name, limits.indented_size(str(a["s"]), a["width"]))


def _check_wordwrap(name: str, a: dict[str, Any]) -> None:
    check_size(name, limits.wrapped_size(str(a["s"]), a["width"], a["wrapstring"] or "\n"))


def _check_format(name: str, a: dict[str, Any]) -> None:
    limits.check_percent_format(str(a["value"]), a["kwargs"] or a["args"])


def _check_tojson(name: str, a: dict[str, Any]) -> None:
    if a["indent"] is not None:
        raise RenderError("tojson takes no indent: a parameter cannot hold line breaks")


def _check_sum(name: str, a: dict[str, Any]) -> None:
    # sum(start=[]) concatenates lists, in time quadratic in their number.
    if isinstance(a["start"], bool) or not isinstance(a["start"], int | float | Decimal):
        raise RenderError("sum adds numbers: its start must be a number")


_FILTER_CHECKS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "replace": _check_replace,
    "join": _check_join,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
    "tojson": _check_tojson,
    "sum": _check_sum,
}
