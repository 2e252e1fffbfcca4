"""The optimizer catalog: name -> OptimizerInfo, built once from the plugin hooks (the
built-ins in `optimize.builtin` register through the same hook as installed plugins)."""

from __future__ import annotations

from functools import cache

from promptyard.errors import ConfigError
from promptyard.optimize.base import OptimizerInfo


@cache
def optimizers() -> dict[str, OptimizerInfo]:
    from promptyard.optimize import builtin
    from promptyard.plugins import plugin_manager

    found: dict[str, OptimizerInfo] = {}

    def register(info: OptimizerInfo) -> None:
        if info.name in found:
            raise ValueError(f"optimizer {info.name!r} is registered twice")
        found[info.name] = info

    plugin_manager(builtin).hook.register_optimizers(register=register)
    return dict(sorted(found.items()))


def get_optimizer(name: str) -> OptimizerInfo:
    available = optimizers()
    if name not in available:
        raise ConfigError(f"unknown optimizer {name!r}; available: {', '.join(available)}",
                          field="optimizer")  # fmt: skip
    return available[name]
