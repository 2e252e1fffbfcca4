"""Content hashes over canonical JSON, for case ids, cache keys and versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; non-JSON values fall back to str()."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any, *, size: int = 16) -> str:
    """A short, stable hex digest of a JSON-able value."""
    return hashlib.blake2b(canonical_json(value).encode(), digest_size=size).hexdigest()
