"""The exception tree. Every error Promptyard raises on purpose is a PromptyardError.

    PromptyardError
    ├── ConfigError            bad user input: names the file, line, field, test or variable
    │   ├── TemplateError      a template that fails to render (undefined variable, syntax)
    │   └── UnknownAssertionError
    ├── ProviderError          a call to an LLM provider failed (recorded on the trial)
    │   ├── ProviderAuthError      401/403 or a missing API key (fatal, never retried)
    │   ├── ProviderRateLimitError 429 (retryable, may carry retry_after)
    │   ├── ProviderTimeoutError   the call timed out (retryable)
    │   ├── ProviderServerError    5xx or connection failure (retryable)
    │   └── ProviderResponseError  a body we cannot read, or another 4xx (fatal)
    ├── ScorerError            a user's scorer (javascript, python) raised or returned nonsense
    │   └── SandboxLimitError  it ran past its time or memory limit
    ├── StoreError             the database refused a read or write
    │   ├── RunNotFound        (also a NotFound)
    │   └── AmbiguousRunId     an id prefix matching several runs
    ├── NotFound               no such prompt, version, label, dataset, profile, job or token
    ├── Conflict               the name is taken, or the thing is not in a state that allows it
    └── RunCancelled           the user stopped a run (Ctrl-C, cancel); finished work is kept

The engine tells these apart: retryable provider errors are retried, fatal ones are recorded
on their trial, ConfigError stops a run before it starts, ScorerError is recorded on the score.
"""

from __future__ import annotations


class PromptyardError(Exception):
    """Root of every error Promptyard raises on purpose."""


class ConfigError(PromptyardError):
    """Bad user input. The message names where: file, line, field, test, variable."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        super().__init__(_locate(message, file=file, line=line, field=field))


class TemplateError(ConfigError):
    """A template failed to render; `variable` is the undefined name when there is one."""

    def __init__(
        self,
        message: str,
        *,
        variable: str | None = None,
        test: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.variable = variable
        self.test = test
        where = f"{message} (test: {test})" if test else message
        super().__init__(where, file=file, line=line, field=field)


class UnknownAssertionError(ConfigError):
    """An assertion `type` that no scorer registers."""


class ProviderError(PromptyardError):
    """A provider call failed. `retryable` tells the retry policy whether to try again."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        prefix = f"{provider}: " if provider else ""
        suffix = f" (HTTP {status})" if status else ""
        super().__init__(f"{prefix}{message}{suffix}")


class ProviderAuthError(ProviderError):
    """Missing or rejected credentials. Never retried."""


class ProviderRateLimitError(ProviderError):
    retryable = True


class ProviderTimeoutError(ProviderError):
    retryable = True


class ProviderServerError(ProviderError):
    retryable = True


class ProviderResponseError(ProviderError):
    """A response we cannot use: malformed body, or a 4xx other than auth and rate limit."""


class ScorerError(PromptyardError):
    """A user-supplied scorer failed; recorded on its score, the run goes on."""


class SandboxLimitError(ScorerError):
    """A sandboxed scorer exceeded its time or memory limit."""


class StoreError(PromptyardError):
    """The store could not read or write."""


class NotFound(PromptyardError):
    """An unknown name, version, label or id. The server answers 404."""


class Conflict(PromptyardError):
    """A duplicate name, or a change the current state refuses. The server answers 409."""


class RunNotFound(StoreError, NotFound):
    """No stored run has this id (or id prefix)."""


class AmbiguousRunId(StoreError, ValueError):
    """A run id prefix that matches several runs (or none was given). The server answers 400."""


class RunCancelled(PromptyardError):
    """The run was cancelled; results already finished are kept."""


def _locate(message: str, *, file: str | None, line: int | None, field: str | None) -> str:
    parts = []
    if file:
        parts.append(f"{file}:{line}" if line else file)
    if field:
        parts.append(field)
    return f"{', '.join(parts)}: {message}" if parts else message
