"""docs/scorers.md's table, generated from the assertion table so the two cannot drift.

`python -m promptyard.scorers.docs` prints the table to paste into docs/scorers.md; a unit
test checks that the page contains the current table.
"""

from __future__ import annotations

import sys

from promptyard.scorers.registry import assertion_types


def scorers_table() -> str:
    rows = [
        "| type | needs a model | takes a threshold | `not-` form | description |",
        "|---|---|---|---|---|",
    ]
    for entry in assertion_types():
        threshold = "yes" if entry.takes_threshold else "no"
        if entry.default_threshold is not None:
            threshold = f"yes (default {entry.default_threshold:g})"
        rows.append(
            f"| `{entry.name}` | {'yes' if entry.needs_model else 'no'} | {threshold} | "
            f"{'yes' if entry.negatable else 'no'} | {entry.description.replace('|', '/')} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(scorers_table())
