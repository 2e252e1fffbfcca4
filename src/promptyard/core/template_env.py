"""The sandboxed Jinja2 environment of prompt templates: its code generator and attribute,
operator and call hooks (which measure against the render limits), the one shared environment,
and the variables a template reads. Pure (L0).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptyard.core.template_builtins import (
    _NUNJUCKS_FILTERS,
    _f_format,
    _f_tojson,
    _f_wordwrap,
    _listing,
)
from promptyard.core.template_compat import (
    _LIST_MEMBERS,
    _STR_MEMBERS,
    _nunjucks_to_jinja,
    _Undefined,
)
from promptyard.core.template_js import _finalize
from promptyard.core.template_limits import (
    _SEQUENCES,
    _brace_specs,
    _check_str_method,
    _check_widths,
    _current,
    _f_loop,
    _guarded_filter,
    _percent_specs,
)

_CACHE_SIZE = 4096


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with two hooks: `~` joins through the environment (which
    measures it), and each output into a block buffer (macros, `{% set %}` blocks,
    `{% call %}`) counts as a step. (Loops are wrapped in the tree: _PromptEnvironment.)"""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.py_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        super().visit_Output(node, frame)
        if frame.buffer is not None and not (frame.require_output_check and self.has_known_extends):
            self.writeline(f"environment.py_step({len(node.nodes)})")


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A mapping's key wins over its methods, as in Nunjucks: `obj.items` is the key
        # "items", not dict.items (which stays reachable when there is no such key).
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        # Nunjucks templates call JavaScript members: `items.length`, `name.toUpperCase()`.
        elif isinstance(obj, str):
            if attribute == "length":
                return len(obj)
            member = _STR_MEMBERS.get(attribute)
            if member is not None:
                return member(obj)
        elif isinstance(obj, (list, tuple)):
            if attribute == "length":
                return len(obj)
            member = _LIST_MEMBERS.get(attribute)
            if member is not None:
                return member(obj)
        return super().getattr(obj, attribute)

    # -- limits (see _Render) ------------------------------------------------------------

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None,
        defer_init: bool = False,
    ) -> str:  # fmt: skip
        # Every `{% for %}` iterable goes through `_py_loop`, which counts and times the loop.
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_py_loop", [], [], None, None,
                                     lineno=loop.iter.lineno)  # fmt: skip
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        r = _current()
        r.tick()
        if operator == "*":
            if isinstance(right, int) and isinstance(left, _SEQUENCES):
                r.size(len(left) * right, "'*'")
            elif isinstance(left, int) and isinstance(right, _SEQUENCES):
                r.size(len(right) * left, "'*'")
            elif isinstance(left, int) and isinstance(right, int):
                r.number(left.bit_length() + right.bit_length(), "'*'")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                r.number(min(right, r.max_bits + 1) * (abs(left).bit_length() - 1), "'**'")
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                r.size(len(left) + len(right), "'+'")
        elif operator == "%" and isinstance(left, str):
            _check_widths(r, _percent_specs(left), "'%'")
        result = self.binop_table[operator](left, right)
        if isinstance(result, _SEQUENCES):
            r.produced(len(result), f"'{operator}'")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        r = _current()
        r.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(r, owner, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, _SEQUENCES):
            r.produced(len(result), "a call")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_widths(_current(), _brace_specs(fmt), "str.format")
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(checked, wrapped)

    def concat(self, parts: Iterable[str]) -> str:
        """Joins a block's buffer (a macro, `{% set %}` block, `{% call %}`): measured first."""
        items = parts if isinstance(parts, list) else list(parts)
        _current().produced(sum(map(len, items)), "a block")
        return "".join(items)

    def py_join(self, items: tuple[Any, ...]) -> str:
        """The `~` operator: str() of each item, joined, measured first."""
        parts = [str(x) for x in items]
        _current().produced(sum(map(len, parts)), "'~'")
        return "".join(parts)

    def py_step(self, n: int) -> None:
        _current().step(n)


def _make_environment() -> _PromptEnvironment:
    env = _PromptEnvironment(
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=True,  # Nunjucks keeps the template's last newline
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,  # we cache compiled templates ourselves, keyed on the text
    )
    for name in ("select", "reject", "selectattr", "rejectattr", "slice", "map", "unique"):
        env.filters[name] = _listing(env.filters[name])
    env.filters.update(_NUNJUCKS_FILTERS)
    env.filters.update(format=_f_format, tojson=_f_tojson, wordwrap=_f_wordwrap)
    for name, fn in list(env.filters.items()):
        env.filters[name] = _guarded_filter(name, fn)
    env.filters["_py_loop"] = _f_loop
    env.globals.pop("lipsum", None)
    env.globals["env"] = {}  # promptfoo's `env` global; callers may pass their own in vars
    return env


_ENV = _make_environment()


def _variables_in(env: jinja2.Environment, template: str) -> frozenset[str]:
    ast = env.parse(_nunjucks_to_jinja(template))
    names = set(meta.find_undeclared_variables(ast))
    # Globals are always defined, but a template may still read one as a variable.
    names.difference_update(name for name in _ENV.globals if name != "env")
    names.discard("env")
    return frozenset(names)
