"""promptfoo provider ids that Promptyard does not run, each with what to use instead.

An id whose prefix is here is refused with its reason (a ConfigError naming the id), rather
than "unknown provider": a config moved from promptfoo should say what to change.
"""

from __future__ import annotations

_GATEWAY = (
    "put an OpenAI-compatible gateway in front of it (LiteLLM, Portkey, ...) and use "
    "`litellm:MODEL` or `openai-compatible:MODEL` with apiBaseUrl and apiKeyEnvar"
)
_PYTHON = "or call it from a `python:file.py:fn` provider"

# prefix -> why not, and what to use instead.
UNSUPPORTED: dict[str, str] = {
    "bedrock": (
        "AWS Bedrock signs requests with AWS SigV4, which Promptyard does not implement; "
        f"{_GATEWAY} (e.g. Bedrock Access Gateway), {_PYTHON} (boto3)"
    ),
    "sagemaker": f"SageMaker endpoints need AWS SigV4 signing; {_GATEWAY}, {_PYTHON} (boto3)",
    "vertex": (
        "Vertex AI needs Google Cloud OAuth credentials; use `google:MODEL` with GEMINI_API_KEY "
        "(AI Studio, OpenAI-compatible), or Vertex's OpenAI-compatible endpoint through "
        f"`openai-compatible:MODEL` with apiBaseUrl and an access token in apiKeyEnvar, {_PYTHON}"
    ),
    "huggingface": (
        "Hugging Face Inference Providers speak the OpenAI format: use "
        "`openai-compatible:MODEL` with apiBaseUrl: https://router.huggingface.co/v1 and "
        f"apiKeyEnvar: HF_TOKEN; a local transformers model: {_PYTHON.removeprefix('or ')}"
    ),
    "hf": "see `huggingface:`: use `openai-compatible:MODEL` with "
    "apiBaseUrl: https://router.huggingface.co/v1 and apiKeyEnvar: HF_TOKEN",
    "replicate": f"Replicate's prediction API is not OpenAI-compatible; {_GATEWAY}, {_PYTHON}",
    "cohere": (
        "use Cohere's OpenAI-compatible API: `openai-compatible:MODEL` with apiBaseUrl: "
        f"https://api.cohere.ai/compatibility/v1 and apiKeyEnvar: COHERE_API_KEY, {_PYTHON}"
    ),
    "cloudflare-ai": (
        "use Workers AI's OpenAI-compatible API: `openai-compatible:MODEL` with apiBaseUrl: "
        "https://api.cloudflare.com/client/v4/accounts/ACCOUNT_ID/ai/v1 and apiKeyEnvar: "
        "CLOUDFLARE_API_KEY"
    ),
    "watsonx": f"IBM watsonx needs IAM token exchange; {_GATEWAY}, {_PYTHON}",
    "ai21": (
        "use `openai-compatible:MODEL` with apiBaseUrl: https://api.ai21.com/studio/v1 and "
        "apiKeyEnvar: AI21_API_KEY"
    ),
    "databricks": (
        "Databricks serving endpoints are OpenAI-compatible: `openai-compatible:MODEL` with "
        "apiBaseUrl: https://WORKSPACE/serving-endpoints and apiKeyEnvar: DATABRICKS_TOKEN"
    ),
    "alibaba": (
        "DashScope is OpenAI-compatible: `openai-compatible:MODEL` with apiBaseUrl: "
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1 and apiKeyEnvar: "
        "DASHSCOPE_API_KEY"
    ),
    "github": (
        "GitHub Models are OpenAI-compatible: `openai-compatible:MODEL` with apiBaseUrl: "
        "https://models.github.ai/inference and apiKeyEnvar: GITHUB_TOKEN"
    ),
    "hyperbolic": (
        "use `openai-compatible:MODEL` with apiBaseUrl: https://api.hyperbolic.xyz/v1 and "
        "apiKeyEnvar: HYPERBOLIC_API_KEY"
    ),
    "sambanova": (
        "use `openai-compatible:MODEL` with apiBaseUrl: https://api.sambanova.ai/v1 and "
        "apiKeyEnvar: SAMBANOVA_API_KEY"
    ),
    "portkey": "use `openai-compatible:MODEL` with apiBaseUrl: https://api.portkey.ai/v1",
    "voyage": "embeddings only in promptfoo; Promptyard has no Voyage embedder yet: "
    + _PYTHON.removeprefix("or "),
    "llama": "llama.cpp's native API: use `llamacpp:MODEL` (its OpenAI-compatible server)",
    "llamafile": "use `llamacpp:MODEL` or `openai-compatible:MODEL` with apiBaseUrl",
    "text-generation-webui": "use `openai-compatible:MODEL` with its OpenAI extension's URL",
    "http": f"promptfoo's generic HTTP provider is not supported; {_PYTHON.removeprefix('or ')}",
    "https": f"promptfoo's generic HTTP provider is not supported; {_PYTHON.removeprefix('or ')}",
    "websocket": f"WebSocket providers are not supported; {_PYTHON.removeprefix('or ')}",
    "ws": f"WebSocket providers are not supported; {_PYTHON.removeprefix('or ')}",
    "exec": f"shell-command providers are not supported; {_PYTHON.removeprefix('or ')}",
    "golang": f"Go providers are not supported; {_PYTHON.removeprefix('or ')}",
    "webhook": f"webhook providers are not supported; {_PYTHON.removeprefix('or ')}",
    "browser": "browser automation providers are not supported",
    "sequence": "sequence providers are not supported; chain the calls in a `python:` provider",
    "simulated-user": "simulated-user providers (red-team conversations) are not supported",
    "manual-input": "manual-input providers are not supported",
    "claude-agent-sdk": "the Claude Agent SDK is not supported; use `anthropic:messages:MODEL`",
    "openai-agents": "OpenAI Agents are not supported; use `openai:MODEL` or a `python:` provider",
}

# "prefix:kind" forms of supported prefixes that are not.
UNSUPPORTED_KINDS: dict[tuple[str, str], str] = {
    ("openai", "assistant"): "the Assistants API is not supported; use openai:chat:MODEL",
    ("openai", "realtime"): "the Realtime API is not supported; use openai:chat:MODEL",
    ("openai", "image"): "image generation is not supported; use openai:chat:MODEL",
    ("openai", "moderation"): "a moderation model is not a task provider; name it as the "
    "`provider` of a moderation assertion (or in options.provider)",
    ("azure", "assistant"): "the Assistants API is not supported; use azure:chat:DEPLOYMENT",
    ("azure", "responses"): "the Responses API on Azure is not supported yet; use "
    "azure:chat:DEPLOYMENT",
}


def unsupported_reason(provider_id: str) -> str | None:
    """Why `provider_id` is refused, or None when it is not one of promptfoo's we refuse."""
    parts = provider_id.split(":")
    reason = UNSUPPORTED.get(parts[0])
    if reason is None and len(parts) >= 3:
        reason = UNSUPPORTED_KINDS.get((parts[0], parts[1]))
    return reason
