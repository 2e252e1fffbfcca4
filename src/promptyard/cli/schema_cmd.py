"""`promptyard schema`: the JSON Schema of promptyard.yaml, for editors."""

from __future__ import annotations

import json
from typing import Any


def current_schema() -> dict[str, Any]:
    """The schema with every registered assertion type (built-ins and plugins')."""
    from promptyard.project.schema import config_schema
    from promptyard.scorers.registry import assertion_types

    return config_schema(t.name for t in assertion_types())


def schema_command() -> None:
    """Print the JSON Schema of promptyard.yaml (a superset of promptfoo's config).

    Point your editor at it, e.g. with this first line in the config:
    # yaml-language-server: $schema=promptyard.schema.json
    """
    print(json.dumps(current_schema(), indent=2))
