"""Reading project files (promptyard.yaml, promptfoo configs, datasets) into an EvalSpec."""

from promptyard.project.datasets import assertion_from_string
from promptyard.project.loader import CONFIG_NAMES, find_config, load_config, load_config_dict

__all__ = [
    "CONFIG_NAMES",
    "assertion_from_string",
    "find_config",
    "load_config",
    "load_config_dict",
]
