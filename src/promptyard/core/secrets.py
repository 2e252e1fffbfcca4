"""Which config values hold secrets, and a copy of a config with them hidden.

Secrets are referenced by environment variable name (`api_key_env`, `apiKeyEnvar`); these are
never stored, returned or logged:

    values under a secret key      `apiKey`, `token`, `Authorization`, `Cookie`, `credentials`,
                                   `Ocp-Apim-Subscription-Key`, `auth`...
    header values                  every header under a `headers` key whose name is not on
                                   the short allow-list SAFE_HEADERS (Content-Type, Accept...)
    URLs                           userinfo (`http://user:pass@host`) everywhere; the whole query
                                   string of a URL under a URL key (`base_url`, `apiBaseUrl`,
                                   `url`, `endpoint`, `apiHost`, `proxy`); elsewhere (a prompt, a
                                   var) the query parameters with a secret name (`?api_key=`,
                                   `?sig=`)

`redact` hides them in stored configs (manifests, run records); `scrub_text` in messages
(errors, logs), where every URL loses its userinfo and its whole query string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SECRET_WORDS = frozenset(
    {
        "token", "password", "passwd", "secret", "authorization", "auth", "cookie", "cookies",
        "credential", "credentials",
    }
)  # fmt: skip
_KEY_WORDS = frozenset({"api", "access", "private", "secret", "auth", "subscription"})
_URL_WORDS = frozenset({"url", "uri", "endpoint", "host", "proxy"})
# Header names whose values are shown; every other header's value is hidden.
SAFE_HEADERS = frozenset(
    {
        "accept", "accept-encoding", "accept-language", "content-type", "user-agent",
        "cache-control", "anthropic-version", "anthropic-beta", "openai-organization",
        "openai-project", "openai-beta", "http-referer", "x-title",
    }
)  # fmt: skip
# Query parameters that carry secrets though their names say nothing (signed URLs).
_SECRET_PARAMS = frozenset({"sig", "signature"})

# A URL in text: scheme, optional userinfo, host, path, query, fragment.
_URL = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)"
    r"(?P<userinfo>[^\s/?#'\"<>]*@)?"
    r"(?P<rest>[^\s?#'\"<>]*)"
    r"(?P<query>\?[^\s#'\"<>]*)?"
    r"(?P<fragment>#[^\s'\"<>]*)?"
)

_PLAIN, _SECRET, _HEADERS, _URL_KEY = 0, 1, 2, 3


def _words(key: object) -> list[str]:
    return [w.lower() for w in _WORD.findall(str(key))]


def is_secret_key(key: object) -> bool:
    """True for `apiKey`, `api_key`, `key`, `access_token`, `password`, `Authorization`,
    `Cookie`, `credentials`, `Ocp-Apim-Subscription-Key`, `auth`...; False for names of
    variables (`api_key_env`, `apiKeyEnvar`) and `max_tokens` alike."""
    words = _words(key)
    if not words or words[-1] in ("env", "envar"):
        return False
    return (
        words[-1] in _SECRET_WORDS
        or "".join(words) in ("apikey", "key")
        or (words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_WORDS)
    )


def is_safe_header(name: object) -> bool:
    """True for the few headers whose values are shown (SAFE_HEADERS, any case)."""
    return str(name).strip().lower() in SAFE_HEADERS


@functools.lru_cache(maxsize=4096)
def _kind(key: str) -> int:
    """What a key's value is: secret, a header mapping, a URL, or plain (cached: configs
    repeat the same few keys in every test)."""
    if is_secret_key(key):
        return _SECRET
    words = _words(key)
    if words and words[-1] == "headers":
        return _HEADERS
    if words and words[-1] in _URL_WORDS:
        return _URL_KEY
    return _PLAIN


def safe_url(url: str) -> str:
    """`url` without userinfo, query string and fragment (`url` itself when it has none)."""
    return _URL.sub(_strip_all, url) if "://" in url else url


def scrub_text(text: str) -> str:
    """A message with every URL in it shown as `safe_url` shows it (errors, logs)."""
    return _URL.sub(_strip_all, text) if "://" in text else text


def _scrub_embedded(text: str) -> str:
    """Free text kept as written except URL secrets: userinfo and secret-named parameters."""
    return _URL.sub(_strip_secrets, text) if "://" in text else text


def _strip_all(m: re.Match[str]) -> str:
    return m["scheme"] + m["rest"]


def _strip_secrets(m: re.Match[str]) -> str:
    query = m["query"]
    if query:
        query = "?" + "&".join(_param(p) for p in query[1:].split("&"))
    return m["scheme"] + m["rest"] + (query or "") + (m["fragment"] or "")


def _param(part: str) -> str:
    name, sep, value = part.partition("=")
    if sep and value and (is_secret_key(name) or name.lower() in _SECRET_PARAMS):
        return f"{name}={REDACTED}"
    return part


def redact(value: Any) -> Any:
    """`value` with every secret hidden (see the module's docstring), at any depth. Only the
    containers on the way to a secret are copied; the rest is shared (a config with 100,000
    inline tests is not duplicated to hide one key)."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            kind = _kind(k if isinstance(k, str) else str(k))
            if kind == _SECRET:
                new = REDACTED if v else v
            elif kind == _HEADERS and isinstance(v, Mapping):
                new = _redact_headers(v)
            elif kind == _URL_KEY and isinstance(v, str):
                new = safe_url(v)
                new = v if new == v else new
            else:
                new = redact(v)
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, str) and "://" in value:
        new_text = _scrub_embedded(value)
        return value if new_text == value else new_text
    return value


def _redact_headers(headers: Mapping[Any, Any]) -> Any:
    hidden = {k: REDACTED for k, v in headers.items() if v and not is_safe_header(k)}
    if not hidden:
        return headers
    return {k: hidden.get(k, v) for k, v in headers.items()}


def find_secret(value: Any, path: str = "") -> str | None:
    """The path of the first value `redact` would hide ("config.headers.Cookie"), or None."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            kind = _kind(k if isinstance(k, str) else str(k))
            if kind == _SECRET and v:
                return where
            if kind == _HEADERS and isinstance(v, Mapping):
                for name, hv in v.items():
                    if hv and not is_safe_header(name):
                        return f"{where}.{name}"
            elif kind == _URL_KEY and isinstance(v, str):
                if safe_url(v) != v:
                    return where
            else:
                found = find_secret(v, where)
                if found is not None:
                    return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = find_secret(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, str) and "://" in value and _scrub_embedded(value) != value:
        return path or "value"
    return None
