"""A config's own template filters (promptfoo's `nunjucksFilters`): their environment,
the context that turns them on, and stand-ins for checking syntax before they load. Pure (L0).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import jinja2

from promptyard.core.template_compat import _nunjucks_to_jinja
from promptyard.core.template_env import _CACHE_SIZE, _make_environment, _variables_in
from promptyard.core.template_limits import _guarded_filter
from promptyard.errors import TemplateError


class TemplateFilters:
    """A config's own filters (promptfoo's `nunjucksFilters`), given by the composition root:
    an environment of their own (the built-in filters plus these, which may replace one) with
    its own compiled-template cache. Renders use it inside `using_filters`; configs without
    custom filters never touch it. A filter is any callable (value, *args) -> value; it runs
    on the rendering thread, under the render's deadline like the built-in filters."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]]) -> None:
        for name in filters:
            if not isinstance(name, str) or not name.isidentifier():
                raise TemplateError(f"a template filter's name must be an identifier: {name!r}")
        self.names = frozenset(filters)
        env = _make_environment()
        for name, fn in filters.items():
            env.filters[name] = _guarded_filter(name, fn)
        self._env = env
        self.compile = functools.lru_cache(maxsize=_CACHE_SIZE)(self._compile)
        self.variables = functools.lru_cache(maxsize=_CACHE_SIZE)(self._variables)

    def _compile(self, template: str) -> jinja2.Template:
        return self._env.from_string(_nunjucks_to_jinja(template))

    def _variables(self, template: str) -> frozenset[str]:
        return _variables_in(self._env, template)


_FILTERS: ContextVar[TemplateFilters | None] = ContextVar("promptyard_filters", default=None)


def _not_loaded(*_args: Any, **_kwargs: Any) -> Any:
    raise TemplateError("this custom filter is declared for checking only; it was not loaded")


def declared_filters(spec: Any) -> TemplateFilters | None:
    """Stand-ins for the filters a config's `nunjucksFilters` mapping names (None for none),
    for checking its templates' syntax at load under `using_filters` before any filter file
    is read: a render with them fails. Names that are not identifiers are left out (the
    composition root's loading of the files refuses them)."""
    if not isinstance(spec, Mapping) or not spec:
        return None
    names = [n for n in spec if isinstance(n, str) and n.isidentifier()]
    return TemplateFilters(dict.fromkeys(names, _not_loaded)) if names else None


@contextmanager
def using_filters(filters: TemplateFilters | None) -> Iterator[None]:
    """Renders in this context (and the tasks and threads started from it) may call the
    config's own filters; None: the built-in filters only."""
    token = _FILTERS.set(filters)
    try:
        yield
    finally:
        _FILTERS.reset(token)
