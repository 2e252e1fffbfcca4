"""The one file resolver: every file a config names (prompts, tests, vars, defaultTest,
provider files, assertion values, judge prompts, python: and file:// code) is found here, and
a confining policy keeps it inside the config's folder.

    resolve(policy, ref, base_dir, what=...) -> [paths]        (~, {a,b} and globs expand)
    resolve_one(policy, ref, base_dir, what=...) -> real path  (exactly one file)
    resolve_code(policy, ref, base_dir, what=...) -> (real path, function or None)

The rules, in order: drop `file://` (a bare path is the same reference); expand `{a,b}`
alternatives, then `~` in each; refuse, under confinement, an alternative that leaves the
folder as written (before the disk is asked anything, so nothing about files outside is
revealed); expand globs; take the `os.path.realpath` of EACH match and refuse one outside the
folder (a symlink out); only then look at whether files exist. What is checked is what the
caller opens: the returned path (a real path under confinement). A colon is part of the path
unless `split_function` takes a `:function` suffix off a script reference first, so a colon
cannot make the checked path differ from the opened one.

Under confinement a config without a folder (`base_dir` None: an inline config sent without
a project) reads no files at all.

Errors are `FileRefError` (a ConfigError) naming the reference as the user wrote it; under
confinement they never show the server's paths. `reason` is the message without a location,
for callers that add their own (the loader's `file, field`).
"""

from __future__ import annotations

import glob
import os
import re

from promptyard.errors import ConfigError
from promptyard.trust.policy import TrustPolicy

FILE_PREFIX = "file://"
GLOB_CHARS = frozenset("*?[{")
# a `:function` suffix follows only these (promptfoo's file://x.py:fn, file://x.js:fn)
SCRIPT_EXTENSIONS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".tsx", ".jsx", ".py")
_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")


class FileRefError(ConfigError):
    """A file reference that may not be read, or names nothing. `outside`: refused by the
    policy (outside the folder, or no folder), as opposed to missing."""

    def __init__(self, reason: str, *, outside: bool = False) -> None:
        self.reason = reason
        self.outside = outside
        super().__init__(reason)


def strip_prefix(ref: str) -> str:
    return ref[len(FILE_PREFIX) :] if ref.startswith(FILE_PREFIX) else ref


def expand_braces(pattern: str) -> list[str]:
    """`a.{json,yaml}` -> [a.json, a.yaml]: the brace form promptfoo's glob accepts."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [p for alt in match.group(1).split(",") for p in expand_braces(head + alt + tail)]


def is_glob(spec: str) -> bool:
    return not GLOB_CHARS.isdisjoint(spec)


def split_function(ref: str) -> tuple[str, str | None]:
    """`file://x.py:fn` -> (`file://x.py`, "fn"); anything else -> (ref, None).

    The function follows the last colon, and only when what precedes it names a script file
    (scorers.code.parse_file_ref's rule), so a folder or file with a colon in its name stays
    one path. Resolve the first part: that is the file that will be opened."""
    spec = strip_prefix(ref)
    colon = spec.rfind(":")
    if colon > 1 and spec[:colon].lower().endswith(SCRIPT_EXTENSIONS):
        return ref[: len(ref) - len(spec) + colon], spec[colon + 1 :] or None
    return ref, None


def is_inside(root: str, path: str) -> bool:
    """Whether absolute `path` is `root` or below it (both normalised)."""
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:  # different drives (Windows)
        return False


def resolve(
    policy: TrustPolicy, ref: str, base_dir: str | None, *, what: str, must_exist: bool = True
) -> list[str]:
    """The files `ref` names (file:// or bare, relative to `base_dir`), checked by `policy`.

    Globs come back sorted, keeping only files; `must_exist` fails when a plain path is not a
    file or a glob matches none (else those give the path anyway, or an empty list). Under
    confinement the paths are real paths inside the folder; otherwise they are the absolute
    paths as named (so labels keep the name a user gave a symlink).
    """
    spec = strip_prefix(ref)
    if not spec:
        raise FileRefError(f"empty file reference for {what}")
    confine = policy.confine_files
    if base_dir is None:
        if confine:
            raise FileRefError(
                f"{what}: {ref!r}: file references need a project (send `project` with the"
                " config); a config without one reads no files",
                outside=True,
            )
        base_dir = os.getcwd()
    base = os.path.realpath(base_dir) if confine else os.path.abspath(base_dir)
    globbed = is_glob(spec)
    patterns = [os.path.join(base, os.path.expanduser(alt)) for alt in expand_braces(spec)]
    if confine:
        for pattern in patterns:  # as written: decided before the disk is asked anything
            if not is_inside(base, os.path.normpath(pattern)):
                raise _outside(ref, what)
    found: list[str] = []
    for pattern in patterns:
        names = glob.glob(pattern, recursive=True) if globbed else [pattern]
        for name in names:
            full = os.path.realpath(name) if confine else os.path.normpath(name)
            if confine and not is_inside(base, full):  # a symlink (or `..` after one) out
                raise _outside(ref, what)
            found.append(full)
    if not globbed:
        (full,) = found
        if must_exist and not os.path.isfile(full):
            shown = "" if confine else f" (resolved to {full})"
            raise FileRefError(f"file not found for {what}: {spec}{shown}")
        return found
    matches = sorted({m for m in found if os.path.isfile(m)})
    if not matches and must_exist:
        shown = "" if confine else f" (looked in {base})"
        raise FileRefError(f"no files match {spec!r} for {what}{shown}")
    return matches


def resolve_one(policy: TrustPolicy, ref: str, base_dir: str | None, *, what: str) -> str:
    """The one file `ref` names (file:// or bare, relative to `base_dir`), checked by policy:
    its real path, inside `base_dir` under confinement. A plain path need not exist yet (the
    caller's open says so); a glob or {a,b} must match exactly one file. Every character is
    part of the path: take a `:function` suffix off first (split_function, resolve_code)."""
    found = resolve(policy, ref, base_dir, what=what, must_exist=is_glob(strip_prefix(ref)))
    if len(found) != 1:
        raise FileRefError(f"{what}: {ref!r} names {len(found)} files; expected one")
    return os.path.realpath(found[0])


def resolve_code(
    policy: TrustPolicy, ref: str, base_dir: str | None, *, what: str
) -> tuple[str, str | None]:
    """`file://x.py:fn` (or `x.py:fn`, `file://x.js`) -> (real path of x.py, "fn" or None)."""
    path, function = split_function(ref)
    return resolve_one(policy, path, base_dir, what=what), function


def display(policy: TrustPolicy, path: str, base_dir: str | None) -> str:
    """A resolved path as messages show it: relative to the folder when inside it; outside
    it, the path itself, except under confinement (never a server path): its name only."""
    if base_dir is not None:
        confine = policy.confine_files
        root = os.path.realpath(base_dir) if confine else os.path.abspath(base_dir)
        if is_inside(root, path):
            return os.path.relpath(path, root)
    return os.path.basename(path) if policy.confine_files else path


def _outside(ref: str, what: str) -> FileRefError:
    return FileRefError(
        f"{what}: {ref!r} is outside the project folder (a config here reads only files"
        " inside its project's folder)",
        outside=True,
    )
