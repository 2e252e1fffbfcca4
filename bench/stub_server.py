"""A local OpenAI- and Anthropic-compatible LLM stub, shared by tests and benchmarks.

Binds 127.0.0.1 only. Replies are deterministic: the last user message echoed back (or the
reply of the first matching rule), with real-shaped `usage` (whitespace words as tokens),
`logprobs` when asked, `finish_reason`, tool calls when a tool is required, SSE streaming.

Endpoints: POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models, POST /v1/messages,
POST /v1/moderations (a category is flagged when the input contains one of its trigger words,
MODERATION_TRIGGERS, ignoring case), POST /hf-inference/models/{model} (HuggingFace's
text-classification: labels "toxic" and "neutral", toxic 0.95 when a trigger word is in it).
Control: POST /_control/script {"responses": [...]}, POST /_control/fail_first
{"count", "status", "retry_after"}, POST /_control/config {"latency_ms", "rules"},
POST /_control/reset, GET /_control/stats, GET /_control/requests.

Scripted models: `add_model(name, responder)` routes chat completions (and Anthropic messages)
whose `model` is `name` to `responder(body) -> str | {"content": str, "usage": {...}}` (the
reply text; `usage` may set prompt_tokens / completion_tokens, else they are counted as usual).
Scripted responses, failures and latency still apply first; rules do not. The name is listed
by GET /v1/models; `reset()` removes it. See bench/task_model.py.

A scripted response is {"status", "body", "headers", "delay_ms", "malformed", "drop"}:
used once each, in order, by the next API requests (a 200 without a body is the normal reply).

Run: python -m bench.stub_server --port 8089 --latency-ms 200
In tests: StubServer().start_in_thread() (or `await server.start()` in the running loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "stub-model", "claude-sonnet-4-5")
_JSON = "application/json"

# A scripted model: the request body in, the reply text (or {"content", "usage"}) out.
Responder = Callable[[dict[str, Any]], str | dict[str, Any]]


@dataclass(slots=True)
class ScriptedResponse:
    status: int = 200
    body: Any = None  # dict/list: JSON; str: sent as is; None: the normal reply (or an error)
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: float = 0.0
    malformed: bool = False  # a 200 whose body is not JSON
    drop: bool = False  # close the connection without answering

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptedResponse:
        return cls(
            status=int(data.get("status", 200)),
            body=data.get("body"),
            headers={str(k): str(v) for k, v in (data.get("headers") or {}).items()},
            delay_ms=float(data.get("delay_ms", 0.0)),
            malformed=bool(data.get("malformed", False)),
            drop=bool(data.get("drop", False)),
        )


class StubState:
    """What the control API changes and reports. Mutated from one thread at a time in
    practice (the server's), and by tests between requests."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.script: deque[ScriptedResponse] = deque()
        self.fail_count = 0
        self.fail_status = 429
        self.fail_retry_after: float | None = None
        self.rules: list[tuple[str, str]] = []
        self.models: dict[str, Responder] = {}
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=500)

    def reset(self) -> None:
        self.script.clear()
        self.fail_count = 0
        self.fail_retry_after = None
        self.rules = []
        self.models = {}
        self.requests = 0
        self.by_path.clear()
        self.in_flight = 0
        self.max_in_flight = 0
        self.log.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "scripted_left": len(self.script),
            "fail_first_left": self.fail_count,
            "latency_ms": self.latency_ms,
        }

    def next_scripted(self) -> ScriptedResponse | None:
        if self.fail_count > 0:
            self.fail_count -= 1
            headers = {}
            if self.fail_retry_after is not None:
                headers["Retry-After"] = f"{self.fail_retry_after:g}"
            return ScriptedResponse(status=self.fail_status, headers=headers)
        try:
            return self.script.popleft()
        except IndexError:
            return None

    def reply_for(self, text: str) -> str:
        for needle, reply in self.rules:
            if needle in text:
                return reply
        return text

    def model_reply(self, body: dict[str, Any], messages: Any) -> tuple[str, dict[str, Any]]:
        """The reply text and any usage override: the model's responder, else the rules."""
        responder = self.models.get(str(body.get("model")))
        if responder is None:
            return self.reply_for(_last_user(messages)), {}
        out = responder(body)
        if isinstance(out, dict):
            return str(out.get("content") or ""), dict(out.get("usage") or {})
        return str(out), {}


# -- helpers ---------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of an OpenAI or Anthropic message content (string or list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return "" if content is None else str(content)


def _last_user(messages: Any) -> str:
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                return _text_of(m.get("content"))
    return ""


def _count_words(messages: Any, system: Any = None) -> int:
    n = len(_text_of(system).split())
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                n += len(_text_of(m.get("content")).split()) + 1  # +1: the role marker
    return n


def _truncate(reply: str, limit: Any) -> tuple[str, bool]:
    if isinstance(limit, int) and limit > 0:
        words = reply.split()
        if len(words) > limit:
            return " ".join(words[:limit]), True
    return reply, False


def _logprob(word: str) -> float:
    return -0.05 * (len(word) % 7)


# Moderation categories (OpenAI's names) and the words that flag them in the stub.
MODERATION_TRIGGERS: dict[str, tuple[str, ...]] = {
    "harassment": ("idiot", "stupid"),
    "hate": ("hateful",),
    "self-harm": ("hurt myself",),
    "sexual": ("explicit",),
    "violence": ("kill", "attack"),
}


def _moderation(text: str) -> dict[str, Any]:
    low = text.lower()
    cats = {c: any(w in low for w in words) for c, words in MODERATION_TRIGGERS.items()}
    scores = {c: 0.9 if on else 0.01 for c, on in cats.items()}
    return {"flagged": any(cats.values()), "categories": cats, "category_scores": scores}


def _json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers=headers, content_type=_JSON
    )


def _openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {
        401: "invalid_request_error",
        403: "permission_error",
        429: "rate_limit_error",
        404: "not_found_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


# -- the server ------------------------------------------------------------------------------


class StubServer:
    """The stub. `await start()` in a running loop, or `start_in_thread()` from any code."""

    def __init__(self, *, port: int = 0, latency_ms: float = 0.0) -> None:
        self.state = StubState(latency_ms)
        self._port = port
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = 0

    # -- lifecycle

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/hf-inference/models/{model:.+}", self._classify)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/_control/script", self._ctl_script)
        app.router.add_post("/_control/fail_first", self._ctl_fail_first)
        app.router.add_post("/_control/config", self._ctl_config)
        app.router.add_post("/_control/reset", self._ctl_reset)
        app.router.add_get("/_control/stats", self._ctl_stats)
        app.router.add_get("/_control/requests", self._ctl_requests)
        return app

    async def start(self) -> str:
        """Serve in the running loop; returns the base URL (".../v1")."""
        # access_log=None: logging every request would cost more CPU than answering it.
        # handler_cancellation: a client that timed out stops its (sleeping) handler.
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self._port, reuse_address=True, backlog=1024)
        await site.start()
        self._port = int(self._runner.addresses[0][1])  # the real port when port=0
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> str:
        """Serve from a daemon thread with its own loop; returns the base URL."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                error.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            # Handlers still sleeping on a scripted delay: cancel them before closing.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="stub-server", daemon=True)
        self._thread.start()
        started.wait(10)
        if error:
            raise error[0]
        return self.base_url

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None

    @contextlib.contextmanager
    def running(self) -> Iterator[StubServer]:
        self.start_in_thread()
        try:
            yield self
        finally:
            self.stop_thread()

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self._port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    # -- Python control API (same effects as the /_control endpoints)

    def script(self, *responses: ScriptedResponse | dict[str, Any]) -> None:
        for r in responses:
            self.state.script.append(
                r if isinstance(r, ScriptedResponse) else ScriptedResponse.from_dict(r)
            )

    def fail_first(self, count: int, status: int = 429, retry_after: float | None = None) -> None:
        self.state.fail_count = count
        self.state.fail_status = status
        self.state.fail_retry_after = retry_after

    def set_latency(self, ms: float) -> None:
        self.state.latency_ms = ms

    def add_rule(self, contains: str, reply: str) -> None:
        self.state.rules.append((contains, reply))

    def add_model(self, name: str, responder: Responder) -> None:
        """Answer requests for model `name` with `responder(body)` (replaces an earlier one)."""
        self.state.models[name] = responder

    def remove_model(self, name: str) -> None:
        self.state.models.pop(name, None)

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    @property
    def request_count(self) -> int:
        return self.state.requests

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The last requests received: {"path", "body", "authorization", "api_key"}."""
        return list(self.state.log)

    # -- request plumbing

    async def _begin(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Count, log and parse a request; a scripted or failing reply when one is due."""
        st = self.state
        st.requests += 1
        st.by_path[request.path] += 1
        raw = await request.read() if request.can_read_body else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        st.log.append(
            {
                "path": request.path,
                "body": body,
                "authorization": request.headers.get("Authorization"),
                "api_key": request.headers.get("x-api-key"),
                "headers": dict(request.headers),
            }
        )
        scripted = st.next_scripted()
        delay = st.latency_ms / 1000.0
        if scripted is not None:
            delay += scripted.delay_ms / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        if scripted is not None:
            early = self._scripted_reply(request, scripted)
            if early is not None:
                return body, early
        if body is None or not isinstance(body, dict):
            return body, self._error(request, 400, "the request body is not a JSON object")
        return body, None

    def _scripted_reply(self, request: web.Request, s: ScriptedResponse) -> web.Response | None:
        if s.drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)  # never reaches the client
        if s.malformed:
            return web.Response(
                body=b"<html>upstream said: not json {",
                status=s.status,
                headers=s.headers,
                content_type=_JSON,
            )
        if s.body is None and s.status < 400:
            return None  # the normal reply
        if s.body is None:
            return self._error(request, s.status, f"scripted error {s.status}", s.headers)
        if isinstance(s.body, str):
            return web.Response(text=s.body, status=s.status, headers=s.headers, content_type=_JSON)
        return _json_response(s.body, s.status, s.headers)

    def _error(
        self, request: web.Request, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        make = _anthropic_error if request.path == "/v1/messages" else _openai_error
        return _json_response(make(status, message), status, headers)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def _guarded(self, request: web.Request, handler: Any) -> web.StreamResponse:
        st = self.state
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            body, early = await self._begin(request)
            if early is not None:
                return early
            result: web.StreamResponse = await handler(request, body)
            return result
        finally:
            st.in_flight -= 1

    # -- OpenAI

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._chat_reply)

    async def _chat_reply(self, request: web.Request, body: dict[str, Any]) -> Any:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(request, 400, "`messages` must be a non-empty list")
        model = str(body.get("model") or "stub-model")
        reply, usage_set = self.state.model_reply(body, messages)
        text, cut = _truncate(reply, body.get("max_tokens") or body.get("max_completion_tokens"))
        prompt_tokens = int(usage_set.get("prompt_tokens", _count_words(messages)))
        words = text.split()
        completion_tokens = int(usage_set.get("completion_tokens", len(words)))
        finish = "length" if cut else "stop"
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        tools = body.get("tools")
        choice_pref = body.get("tool_choice")
        if tools and (choice_pref == "required" or isinstance(choice_pref, dict)):
            name = (
                (choice_pref.get("function") or {}).get("name")
                if isinstance(choice_pref, dict)
                else None
            )
            name = name or tools[0].get("function", {}).get("name", "tool")
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{self._ids + 1}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps({"input": text})},
                    }
                ],
            }
            finish = "tool_calls"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        want_lp = bool(body.get("logprobs"))
        ident = f"chatcmpl-stub{self._next_id()}"
        if body.get("stream"):
            return await self._chat_stream(
                request, ident, model, words, finish, usage, want_lp, body
            )
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": finish,
            "logprobs": None,
        }
        if want_lp:
            choice["logprobs"] = {
                "content": [
                    {"token": w, "logprob": _logprob(w), "bytes": None, "top_logprobs": []}
                    for w in words
                ]
            }
        return _json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": usage,
                "system_fingerprint": "fp_stub",
            }
        )

    async def _chat_stream(
        self,
        request: web.Request,
        ident: str,
        model: str,
        words: list[str],
        finish: str,
        usage: dict[str, Any],
        want_lp: bool,
        body: dict[str, Any],
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        created = int(time.time())

        def chunk(
            delta: dict[str, Any],
            finish_reason: str | None = None,
            lp: list[dict[str, Any]] | None = None,
        ) -> bytes:
            c: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            if lp is not None:
                c["logprobs"] = {"content": lp}
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [c],
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        out = [chunk({"role": "assistant", "content": ""})]
        for i, w in enumerate(words):
            piece = w if i == len(words) - 1 else w + " "
            lp = (
                [{"token": piece, "logprob": _logprob(w), "bytes": None, "top_logprobs": []}]
                if want_lp
                else None
            )
            out.append(chunk({"content": piece}, None, lp))
        out.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append(
                b"data: "
                + json.dumps(
                    {
                        "id": ident,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                ).encode()
                + b"\n\n"
            )
        out.append(b"data: [DONE]\n\n")
        await resp.write(b"".join(out))
        await resp.write_eof()
        return resp

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._embeddings_reply)

    async def _embeddings_reply(self, request: web.Request, body: dict[str, Any]) -> Any:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self._error(request, 400, "`input` must be a string or a list of strings")
        dims = int(body.get("dimensions") or 8)
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            tokens += len(str(text).split())
            data.append({"object": "embedding", "index": i, "embedding": _vector(str(text), dims)})
        return _json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or "stub-embedding",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._moderations_reply)

    async def _moderations_reply(self, request: web.Request, body: dict[str, Any]) -> Any:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return self._error(request, 400, "`input` must be a string or a list of strings")
        return _json_response(
            {
                "id": f"modr-{self._next_id()}",
                "model": body.get("model") or "omni-moderation-latest",
                "results": [_moderation(str(text)) for text in inputs],
            }
        )

    async def _classify(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._classify_reply)

    async def _classify_reply(self, request: web.Request, body: dict[str, Any]) -> Any:
        text = body.get("inputs")
        if not isinstance(text, str):
            return _json_response({"error": "`inputs` must be a string"}, 400)
        flagged = any(_moderation(text)["categories"].values())
        toxic = 0.95 if flagged else 0.05
        return _json_response(
            [[{"label": "toxic", "score": toxic}, {"label": "neutral", "score": 1 - toxic}]]
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self.state.requests += 1
        self.state.by_path[request.path] += 1
        return _json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "stub"}
                    for m in (*MODELS, *self.state.models)
                ],
            }
        )

    # -- Anthropic

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._messages_reply)

    async def _messages_reply(self, request: web.Request, body: dict[str, Any]) -> Any:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(request, 400, "messages: field required")
        if not isinstance(body.get("max_tokens"), int):
            return self._error(request, 400, "max_tokens: field required")
        model = str(body.get("model") or "claude-stub")
        reply, usage_set = self.state.model_reply(body, messages)
        text, cut = _truncate(reply, body["max_tokens"])
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        stop = "max_tokens" if cut else "end_turn"
        tools = body.get("tools")
        pref = body.get("tool_choice") or {}
        if tools and pref.get("type") in ("any", "tool"):
            name = pref.get("name") or tools[0].get("name", "tool")
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_stub{self._ids + 1}",
                    "name": name,
                    "input": {"input": text},
                }
            ]
            stop = "tool_use"
        return _json_response(
            {
                "id": f"msg_stub{self._next_id()}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": int(
                        usage_set.get("prompt_tokens", _count_words(messages, body.get("system")))
                    ),
                    "output_tokens": int(usage_set.get("completion_tokens", len(text.split()))),
                },
            }
        )

    # -- control

    async def _ctl_script(self, request: web.Request) -> web.Response:
        data = await request.json()
        items = data.get("responses", data) if isinstance(data, dict) else data
        self.script(*(items if isinstance(items, list) else [items]))
        return _json_response(self.stats())

    async def _ctl_fail_first(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.fail_first(
            int(data.get("count", 1)), int(data.get("status", 429)), data.get("retry_after")
        )
        return _json_response(self.stats())

    async def _ctl_config(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "latency_ms" in data:
            self.set_latency(float(data["latency_ms"]))
        if "rules" in data:
            self.state.rules = [(str(r["contains"]), str(r["reply"])) for r in data["rules"]]
        return _json_response(self.stats())

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json_response(self.stats())

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        return _json_response(self.stats())

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return _json_response(self.requests)


def _vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector from the text's hash: equal texts embed equally."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [(seed[i % len(seed)] / 127.5) - 1.0 + (i // len(seed)) * 0.001 for i in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI/Anthropic-compatible stub.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = StubServer(port=args.port, latency_ms=args.latency_ms)

    async def serve() -> None:
        url = await server.start()
        print(f"stub server on {url} (latency {args.latency_ms:g} ms); Ctrl-C to stop", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
