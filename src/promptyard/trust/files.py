"""The one file resolver: every file a config names (prompts, tests, vars, assertion values,
python: and file:// code) is found here, and a confining policy keeps it inside the
config's folder.

    resolve(policy, ref, base_dir, what=...) -> [absolute real paths]   (globs expand)
    resolve_one(policy, ref, base_dir, what=...) -> absolute real path

Errors are ConfigError naming the reference as the user wrote it, never a server path.
"""

from __future__ import annotations

import os

from promptyard.errors import ConfigError
from promptyard.trust.policy import TrustPolicy

FILE_PREFIX = "file://"


def resolve_one(policy: TrustPolicy, ref: str, base_dir: str | None, *, what: str) -> str:
    """The one file `ref` names (file:// or bare, relative to `base_dir`), checked by policy."""
    spec = ref[len(FILE_PREFIX) :] if ref.startswith(FILE_PREFIX) else ref
    if base_dir is None:
        if policy.confine_files:
            raise ConfigError(f"{what}: {ref!r}: an inline config without a project reads no files")
        base_dir = os.getcwd()
    full = os.path.realpath(os.path.join(base_dir, os.path.expanduser(spec)))
    if policy.confine_files:
        root = os.path.realpath(base_dir)
        if os.path.commonpath([root, full]) != root:
            raise ConfigError(f"{what}: {ref!r} is outside the project folder")
    return full
