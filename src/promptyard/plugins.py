"""Plugin hooks (pluggy). A plugin is a module or object with `@hookimpl` functions, found
through the `promptyard` entry-point group of an installed distribution; the built-in
optimizers register through the same hook.

    from promptyard.plugins import hookimpl

    @hookimpl
    def register_optimizers(register):
        register(OptimizerInfo(name="mine", ...))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "promptyard"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Hooks:
    @hookspec
    def register_optimizers(self, register: Callable[[Any], None]) -> None:
        """Call `register(OptimizerInfo)` for each optimizer the plugin provides."""


def plugin_manager(*builtins: object) -> pluggy.PluginManager:
    """A manager with the hooks, the given built-in plugins and every installed plugin."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Hooks)
    for plugin in builtins:
        pm.register(plugin)
    pm.load_setuptools_entrypoints(PROJECT)
    return pm
