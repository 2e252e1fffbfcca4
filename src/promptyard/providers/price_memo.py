"""Per-model token rates from genai-prices, remembered on disk between runs.

Importing genai-prices and reading its snapshot costs ~0.25 s of CPU (pydantic models), which
measured as the largest piece of start-up contention in `promptyard eval` (docs/benchmarks.md).
Most models have flat per-token prices; for those the rates are computed once from the catalog,
checked to be linear (tiered prices, e.g. long-context surcharges, fail the check and are always
priced by genai-prices itself), and kept in a small JSON file keyed on the installed catalog's
fingerprint, so a new genai-prices release starts a new file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

ONE_M = 1_000_000
_REL_TOL = 1e-9
# (input incl. cached, cached, output) points the linear model must reproduce exactly.
_CHECKS = ((3 * ONE_M, ONE_M, 2 * ONE_M), (150_000, 0, 10_000), (1_000, 0, 100))

Rates = tuple[float, float, float]  # USD per token: input, cached input, output
PriceFn = Callable[[int, int, int], float | None]  # (prompt, cached, completion) -> USD


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "promptyard"


def _fingerprint() -> str | None:
    """Identifies the installed price catalog without importing it."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or not spec.origin:
        return None
    snapshot = Path(spec.origin).parent / "data_snapshot.py"
    try:
        st = snapshot.stat()
    except OSError:
        return None
    return f"{st.st_size}-{st.st_mtime_ns}"


UNPRICED = "unpriced"  # the catalog has no price for the model: its cost is unknown (None)
TIERED = "tiered"  # not linear in the token counts: always priced by the catalog itself


class PriceMemo:
    """What the catalog says per model key: rates, UNPRICED or TIERED."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: dict[str, list[float] | str] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded

    def lookup(self, key: str) -> Rates | str | None:
        """Rates, UNPRICED or TIERED; None when the model has not been measured yet."""
        entry = self._entries.get(key)
        if isinstance(entry, list) and len(entry) == 3:
            return (float(entry[0]), float(entry[1]), float(entry[2]))
        return entry if entry in (UNPRICED, TIERED) else None

    def learn(self, key: str, price: PriceFn) -> None:
        """Measure `price` (genai-prices for one model) and remember the verdict."""
        entry: list[float] | str
        if price(ONE_M, 0, 0) is None:
            entry = UNPRICED
        else:
            rates = linear_rates(price)
            entry = TIERED if rates is None else list(rates)
        with self._lock:
            self._entries[key] = entry
            self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        with contextlib.suppress(OSError):
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._entries, fh)
            os.replace(tmp, self._path)


def linear_rates(price: PriceFn) -> Rates | None:
    """Per-token rates when the price is linear in the token counts, else None."""
    full_in, full_cached, full_out = price(ONE_M, 0, 0), price(ONE_M, ONE_M, 0), price(0, 0, ONE_M)
    if full_in is None or full_cached is None or full_out is None:
        return None
    rates = (full_in / ONE_M, full_cached / ONE_M, full_out / ONE_M)
    for prompt, cached, completion in _CHECKS:
        actual = price(prompt, cached, completion)
        if actual is None or not _close(actual, apply(rates, prompt, cached, completion)):
            return None
    return rates


def apply(rates: Rates, prompt: int, cached: int, completion: int) -> float:
    cached = min(cached, prompt)
    return rates[0] * (prompt - cached) + rates[1] * cached + rates[2] * completion


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _REL_TOL * max(abs(a), abs(b), 1e-12)


_memo: PriceMemo | None = None
_memo_lock = threading.Lock()


def memo() -> PriceMemo:
    """The process's memo, backed by the user's cache directory (in memory if unwritable)."""
    global _memo
    if _memo is not None:  # per priced call: no lock once it exists
        return _memo
    with _memo_lock:
        if _memo is None:
            fingerprint = _fingerprint()
            path = _cache_dir() / f"genai-prices-{fingerprint}.json" if fingerprint else None
            _memo = PriceMemo(path)
        return _memo


def model_key(vendor: str | None, base_url: str | None, model: str) -> str:
    return json.dumps([vendor, base_url, model])
