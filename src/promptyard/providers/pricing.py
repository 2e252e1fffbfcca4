"""USD cost of a call: config overrides first, then genai-prices, else None (unknown, not 0).

Called once per call, so every lookup is cached; genai-prices is imported on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from promptyard.core.types import TokenUsage
from promptyard.providers.config import PriceOverride, normalize_config, price_override
from promptyard.providers.price_memo import UNPRICED, apply, memo, model_key

# Id prefixes of models that run locally: free unless the config says otherwise.
LOCAL_PREFIXES = frozenset(
    {"ollama", "vllm", "llamacpp", "llama.cpp", "lmstudio", "echo", "python", "file", "scripted"}
)
# Our id prefix -> genai-prices provider id.
_VENDOR_IDS = {"openai": "openai", "anthropic": "anthropic"}
_OTHER_PREFIXES = frozenset({"openai", "anthropic", "openai-compatible"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})


def is_loopback(base_url: str | None) -> bool:
    """True for a base URL on this machine (llama.cpp, LM Studio, a stub)."""
    if not base_url:
        return False
    return (urlsplit(base_url).hostname or "") in _LOOPBACK_HOSTS


class Pricer:
    """Prices usage for one provider; build once per provider, call per completion."""

    __slots__ = ("_api_url", "_free", "_key", "_local_url", "_model", "_override", "_prefetch",
                 "_vendor")  # fmt: skip

    def __init__(
        self,
        prefix: str,
        model: str,
        *,
        override: PriceOverride | None = None,
        base_url: str | None = None,
    ) -> None:
        self._override = override
        self._model = model
        self._vendor = _VENDOR_IDS.get(prefix)
        # genai-prices can also tell the vendor from its API URL (openai-compatible hosts).
        self._api_url = None if self._vendor else base_url
        self._local_url = is_loopback(base_url)
        # A vendor model served from a local URL (stub, proxy) keeps its vendor price; an
        # unknown model on loopback (llama.cpp behind `openai:`) is local and free.
        self._free = prefix in LOCAL_PREFIXES or (self._vendor is None and self._local_url)
        complete_override = override is not None and None not in (override.input, override.output)
        self._prefetch = not self._free and not complete_override
        self._key = model_key(self._vendor, self._api_url, model)

    def prefetch(self) -> None:
        """Make sure this model's price is ready by the first answer (idempotent).

        Adapters call this as they send a request. A model priced before (price_memo.py) needs
        nothing; otherwise genai-prices is imported and the model measured on a thread: ~0.25 s
        that then overlaps the network wait instead of stalling the event loop on the first
        answer or slowing start-up.
        """
        if self._prefetch:
            self._prefetch = False
            if memo().lookup(self._key) is None:
                args = (self._vendor, self._api_url, self._model)
                threading.Thread(target=_learn, args=args, daemon=True).start()

    def __call__(self, usage: TokenUsage) -> float | None:
        o = self._override
        if o is not None and o.input is not None and o.output is not None:
            return o.input * usage.prompt + o.output * usage.completion
        if self._free and o is None:
            return 0.0
        if self._free:
            base: float | None = 0.0
        else:
            known = memo().lookup(self._key)
            if isinstance(known, tuple):
                base = apply(known, usage.prompt, usage.cached, usage.completion)
            elif known == UNPRICED:
                base = None
            else:
                base = _catalog_price(
                    self._vendor,
                    self._api_url,
                    self._model,
                    usage.prompt,
                    usage.completion,
                    usage.cached,
                )
            if base is None and self._local_url:
                base = 0.0
        if o is None:
            return base
        # One side overridden: that side from the config, the other from the catalog rate.
        if base is None:
            return _partial(o, usage)
        rate_in: float | None = 0.0
        rate_out: float | None = 0.0
        if base != 0.0:
            rate_in, rate_out = _catalog_rates(self._vendor, self._api_url, self._model)
        inp = o.input if o.input is not None else rate_in
        outp = o.output if o.output is not None else rate_out
        if inp is None or outp is None:
            return None
        return inp * usage.prompt + outp * usage.completion


def cost_of(
    provider_id_or_model: str, usage: TokenUsage, config: Mapping[str, Any] | None = None
) -> float | None:
    """USD for `usage` on "prefix:model" (or a bare model name); None when no price is known."""
    prefix, _, rest = provider_id_or_model.partition(":")
    if not rest and prefix in LOCAL_PREFIXES:  # "echo", "scripted"
        rest = prefix
    elif not rest or (prefix not in LOCAL_PREFIXES and prefix not in _OTHER_PREFIXES):
        prefix, rest = "", provider_id_or_model  # a bare model name, maybe "llama3.2:1b"
    head, sep, tail = rest.partition(":")
    model = tail if sep and head in ("chat", "messages") else rest
    cfg = normalize_config(config) if config else {}
    return Pricer(prefix, model, override=price_override(cfg), base_url=cfg.get("base_url"))(usage)


def _partial(o: PriceOverride, usage: TokenUsage) -> float | None:
    # promptfoo: a side with no tokens needs no rate.
    if (usage.prompt and o.input is None) or (usage.completion and o.output is None):
        return None
    return (o.input or 0.0) * usage.prompt + (o.output or 0.0) * usage.completion


@lru_cache(maxsize=1)
def _genai() -> Any:
    import genai_prices

    return genai_prices


_MISSING: set[tuple[str | None, str | None, str]] = set()


@lru_cache(maxsize=8192)
def _catalog_price(
    vendor: str | None,
    base_url: str | None,
    model: str,
    prompt: int,
    completion: int,
    cached: int,
) -> float | None:
    key = (vendor, base_url, model)
    if key in _MISSING:
        return None
    gp = _genai()
    usage = gp.Usage(
        input_tokens=prompt, output_tokens=completion, cache_read_tokens=min(cached, prompt)
    )
    try:
        if vendor:
            calc = gp.calc_price(usage, model, provider_id=vendor)
        elif base_url:
            calc = gp.calc_price(usage, model, provider_api_url=base_url)
        else:
            calc = gp.calc_price(usage, model)
    except (LookupError, ValueError):
        _MISSING.add(key)
        return None
    return float(calc.total_price)


def _learn(vendor: str | None, base_url: str | None, model: str) -> None:
    """Measure a model's rates from the catalog and remember them (on a thread)."""

    def price(prompt: int, cached: int, completion: int) -> float | None:
        return _catalog_price(vendor, base_url, model, prompt, completion, cached)

    memo().learn(model_key(vendor, base_url, model), price)


@lru_cache(maxsize=1024)
def _catalog_rates(
    vendor: str | None, base_url: str | None, model: str
) -> tuple[float | None, float | None]:
    """Per-token input and output rates, for mixing with a one-sided override."""
    one_m = 1_000_000
    inp = _catalog_price(vendor, base_url, model, one_m, 0, 0)
    outp = _catalog_price(vendor, base_url, model, 0, one_m, 0)
    return (
        None if inp is None else inp / one_m,
        None if outp is None else outp / one_m,
    )
