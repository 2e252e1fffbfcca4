"""User Python over HTTP, against a real `promptyard serve` (docs/security.md, finding 1).

Python (python: providers, python assertions, .py files) is refused from every entry point
unless the operator sets PROMPTYARD_ALLOW_PYTHON=true: the task's providers, a judge named
by defaultTest, by an assertion or by `judge_profile`, an embedding model, the optimizer's
proposer, the options of a stored prompt version, the assertions of stored dataset rows, and
a resumed job. Where it is allowed, it is confined to the project's folder: no absolute
path, no `..`, no symlink out, no standard-library module by name.

Every attack names Python that would write a canary file (on import, on call, or as a judge
prompt run as code); the canary must never appear, and the answer is a 400 at submit naming
the field (or, on resume, a job that fails before any call).
"""

from __future__ import annotations

import cProfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server

PROJECT = "proj"
PYTHON_ON = {"PROMPTYARD_ALLOW_PYTHON": "true"}
JUDGE_REPLY = '{"reason": "fine", "pass": true, "score": 1}'


@dataclass
class Site:
    """A running server and the folder of its one project."""

    server: ServerProcess
    root: Path  # the projects root
    tmp: Path  # outside the projects root: canaries and outside files live here

    @property
    def project(self) -> Path:
        return self.root / PROJECT

    @property
    def api(self) -> str:
        return self.server.api

    def evil(self, name: str, *, folder: Path | None = None, sleep: float = 0.0) -> Path:
        """`name`.py in the project (or `folder`); returns its canary."""
        return write_evil(folder or self.project, self.tmp, name, sleep=sleep)

    def canary(self, name: str) -> Path:
        return self.tmp / f"canary-{name}"


def write_evil(folder: Path, tmp: Path, name: str, *, sleep: float = 0.0) -> Path:
    """`folder`/`name`.py, writing the canary tmp/canary-`name` when imported and when called
    as a provider (a judge reply that passes), an assertion or a transform."""
    canary = tmp / f"canary-{name}"
    code = (
        "import time\n"
        f"CANARY = {str(canary)!r}\n"
        "open(CANARY, 'a').write('imported\\n')\n"
        "def call_api(prompt, options, context):\n"
        "    open(CANARY, 'a').write('called\\n')\n"
        f"    time.sleep({sleep})\n"
        f"    return {JUDGE_REPLY!r}\n"
        "def get_assert(output, context):\n"
        "    open(CANARY, 'a').write('asserted\\n')\n"
        "    return True\n"
        "def get_transform(output, context):\n"
        "    open(CANARY, 'a').write('transformed\\n')\n"
        "    return output\n"
    )
    (folder / f"{name}.py").write_text(code)
    return canary


def _site(tmp: Path, env: dict[str, str] | None) -> Iterator[Site]:
    root = tmp / "projects"
    (root / PROJECT).mkdir(parents=True)
    with running_server(
        tmp, projects_root=root, env={"OPENAI_API_KEY": "sk-test", **(env or {})}
    ) as s:
        yield Site(s, root, tmp)


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The default server: PROMPTYARD_ALLOW_PYTHON unset (off)."""
    yield from _site(tmp_path_factory.mktemp("python-off"), None)


@pytest.fixture(scope="module")
def on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server whose operator allows Python (confined to the project's folder)."""
    yield from _site(tmp_path_factory.mktemp("python-on"), PYTHON_ON)


def config(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prompts": ["Say {{w}}"],
        "providers": ["echo"],
        "tests": [{"vars": {"w": "hi"}, "assert": [{"type": "contains", "value": "hi"}]}],
    }
    return {**base, **changes}


def graded(**assertion: Any) -> list[dict[str, Any]]:
    """One test graded by a judge (llm-rubric), with `assertion`'s extra keys."""
    return [{"vars": {"w": "hi"}, "assert": [{"type": "llm-rubric", "value": "ok", **assertion}]}]


def evaluate(site: Site, cfg: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{site.api}/evaluate", json={"config": cfg, "project": PROJECT}, timeout=30)


def wait_finished(site: Site, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail: dict[str, Any] = httpx.get(f"{site.api}/jobs/{job_id}", timeout=10).json()
        if detail["job"]["status"] not in ("queued", "running"):
            return detail
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def trial_events(site: Site, job_id: str) -> int:
    events = httpx.get(f"{site.api}/jobs/{job_id}", timeout=10).json()["events"]
    return sum(1 for e in events if e["type"] == "trial")


def refused(resp: httpx.Response, *fragments: str) -> str:
    """A 400 at submit whose message holds every fragment (the field, and why)."""
    assert resp.status_code == 400, resp.text
    detail: str = resp.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, (fragment, detail)
    return detail


PYTHON_OFF = "Python providers run code in this process, which is not allowed here"


# -- every entry point, Python off ----------------------------------------------------------


def test_task_provider(off: Site) -> None:
    canary = off.evil("task")
    for provider in ("python:task.py", "file://task.py", {"id": "python:task.py:call_api"}):
        refused(evaluate(off, config(providers=[provider])), "providers[0]", PYTHON_OFF)
    assert not canary.exists()


def test_default_test_judge(off: Site) -> None:
    canary = off.evil("default_judge")
    cfg = config(defaultTest={"options": {"provider": "python:default_judge.py"}}, tests=graded())
    refused(evaluate(off, cfg), "tests[0].assert[0]: options.provider", PYTHON_OFF)
    shared = config(defaultTest={"options": {"provider": {"id": "file://default_judge.py"}},
                                 "assert": [{"type": "llm-rubric", "value": "ok"}]})  # fmt: skip
    refused(evaluate(off, shared), "options.provider", PYTHON_OFF)
    assert not canary.exists()


def test_assertion_judge_provider(off: Site) -> None:
    canary = off.evil("assert_judge")
    for kind in ("llm-rubric", "g-eval", "factuality", "model-graded-closedqa", "select-best"):
        tests = [{"vars": {"w": "hi"}, "assert": [
            {"type": "contains", "value": "hi"},
            {"type": kind, "value": "ok", "provider": "python:assert_judge.py"},
        ]}]  # fmt: skip
        refused(evaluate(off, config(tests=tests)), "tests[0].assert[1].provider", PYTHON_OFF)
    assert not canary.exists()


def test_judge_profile(off: Site) -> None:
    canary = off.evil("profile_judge")
    cfg = config(judge_profile="python:profile_judge.py", tests=graded())
    refused(evaluate(off, cfg), "options.provider", PYTHON_OFF)
    metric = config(judge_profile={"id": "python:profile_judge.py"},
                    metrics=[{"name": "polite", "criteria": "is polite"}])  # fmt: skip
    refused(evaluate(off, metric), "options.provider", PYTHON_OFF)
    assert not canary.exists()


def test_unknown_judge_is_400_at_submit(off: Site) -> None:
    """A judge that cannot be built is a 400 naming it, never a 202 whose grades all fail."""
    refused(evaluate(off, config(tests=graded(provider="nosuch:model"))),
            "tests[0].assert[0].provider", "unknown provider 'nosuch:model'")  # fmt: skip


def test_embedding_provider_for_similar(off: Site) -> None:
    canary = off.evil("embedder")
    providers: list[Any] = [
        {"embedding": "python:embedder.py"},
        {"id": "python:embedder.py:embedding"},
        "file://embedder.py:embedding",
    ]
    for provider in providers:
        similar = {"type": "similar", "value": "hi", "provider": provider}
        tests = [{"vars": {"w": "hi"}, "assert": [similar]}]
        refused(evaluate(off, config(tests=tests)), "tests[0].assert[0].provider")
    both = {"text": "python:embedder.py", "embedding": "python:embedder.py"}
    relevance = {"type": "answer-relevance", "value": "hi", "provider": both}
    answer = [{"vars": {"w": "hi"}, "assert": [relevance]}]
    refused(evaluate(off, config(tests=answer)), "tests[0].assert[0].provider")
    assert not canary.exists()


def test_optimizer_proposer_model(off: Site) -> None:
    canary = off.evil("proposer")
    tests = [{"vars": {"w": f"w{i}"}, "assert": [{"type": "contains", "value": f"w{i}"}]}
             for i in range(30)]  # fmt: skip
    for proposer in ("python:proposer.py", {"id": "file://proposer.py"}):
        body = {"config": config(tests=tests), "project": PROJECT, "proposer_model": proposer,
                "options": {"max_cycles": 1, "patience": 1}}  # fmt: skip
        resp = httpx.post(f"{off.api}/optimize", json=body, timeout=30)
        refused(resp, "proposer_model", PYTHON_OFF)
    assert not canary.exists()


def _registry_job(site: Site, name: str, *, prompt_config: dict[str, Any] | None,
                  rows: list[dict[str, Any]]) -> httpx.Response:  # fmt: skip
    prompt = {"name": name, "project": PROJECT, "template": "Say {{w}}"}
    if prompt_config is not None:
        prompt["config"] = prompt_config
    made = httpx.post(f"{site.api}/prompts", json=prompt, timeout=10)
    assert made.status_code == 201, made.text
    data = {"name": f"{name}-rows", "project": PROJECT, "rows": rows}
    made = httpx.post(f"{site.api}/datasets", json=data, timeout=10)
    assert made.status_code == 201, made.text
    body = {"project": PROJECT, "prompt": name, "dataset": f"{name}-rows", "providers": ["echo"]}
    return httpx.post(f"{site.api}/evaluate", json=body, timeout=30)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"provider": "python:version.py"}, ("options.provider", PYTHON_OFF)),
        ({"provider": {"id": "file://version.py", "config": {}}}, ("options.provider",)),
        ({"transform": "file://version.py"}, ("options.transform", "Python")),
    ],
    ids=["judge", "judge-entry", "transform"],
)
def test_prompt_version_config(off: Site, options: dict[str, Any], fragments: tuple[str]) -> None:
    """A prompt version's stored `config.options` become every test's options."""
    canary = off.evil("version")
    rows = [{"vars": {"w": "hi"}, "assert": [{"type": "llm-rubric", "value": "ok"}]}]
    name = f"version-{len(str(options))}-{next(iter(options))}"
    refused(_registry_job(off, name, prompt_config={"options": options}, rows=rows), *fragments)
    assert not canary.exists()


@pytest.mark.parametrize(
    ("assertion", "fragments"),
    [
        ({"type": "python", "value": "file://row.py"}, ("tests[0].assert[0]", "python")),
        ({"type": "llm-rubric", "value": "ok", "provider": "python:row.py"},
         ("tests[0].assert[0].provider", PYTHON_OFF)),
        ({"type": "javascript", "value": "file://row.py"}, ("tests[0].assert[0]", "Python")),
    ],
    ids=["python-type", "python-judge", "py-file"],
)  # fmt: skip
def test_dataset_row_assert(off: Site, assertion: dict[str, Any], fragments: tuple[str]) -> None:
    canary = off.evil("row")
    rows = [{"vars": {"w": "hi"}, "assert": [assertion]}]
    name = f"rows-{assertion['type']}-{len(str(assertion))}"
    refused(_registry_job(off, name, prompt_config=None, rows=rows), *fragments)
    assert not canary.exists()


def test_python_assertions_and_py_files(off: Site) -> None:
    canary = off.evil("asserts")
    inline = f"open({str(off.canary('asserts'))!r}, 'a').write('inline') is None"
    cases = [
        {"type": "python", "value": inline},
        {"type": "python", "value": "file://asserts.py"},
        {"type": "not-python", "value": "file://asserts.py:get_assert"},
        {"type": "javascript", "value": "file://asserts.py"},
        {"type": "equals", "value": "file://asserts.py:get_assert"},
        {"type": "contains", "value": "hi", "transform": "file://asserts.py"},
        {"type": "assert-set", "assert": [{"type": "python", "value": inline}]},
    ]
    for assertion in cases:
        tests = [{"vars": {"w": "hi"}, "assert": [assertion]}]
        refused(evaluate(off, config(tests=tests)), "tests[0].assert[0]")
    test_transform = [{"vars": {"w": "hi"}, "options": {"transform": "file://asserts.py"},
                       "assert": [{"type": "contains", "value": "hi"}]}]  # fmt: skip
    refused(evaluate(off, config(tests=test_transform)), "options.transform", "Python")
    assert not canary.exists()


# -- paths: absolute, `..`, symlinks, standard-library modules ------------------------------


def test_absolute_python_path(off: Site, on: Site) -> None:
    for site in (off, on):
        canary = site.evil("absolute", folder=site.tmp)  # outside the projects root
        path = site.tmp / "absolute.py"
        for cfg in (config(providers=[f"python:{path}"]),
                    config(providers=[{"id": f"python:{path}:call_api"}]),
                    config(tests=graded(provider=f"python:{path}"))):  # fmt: skip
            why = PYTHON_OFF if site is off else "outside the project folder"
            refused(evaluate(site, cfg), why)
        assert not canary.exists()


def test_stdlib_module_trick(off: Site, on: Site) -> None:
    """cProfile.run(prompt, options, context) execs the judge prompt: a rubric that is code.
    By absolute path, by a symlink in the project, or by module name: never."""
    for site in (off, on):
        canary = site.canary("stdlib")
        code = f"open({str(canary)!r}, 'a').write('ran the judge prompt')"
        (site.project / "prof.py").symlink_to(cProfile.__file__)
        try:
            for ref in (f"python:{cProfile.__file__}:run", "python:prof.py:run",
                        "python:cProfile.py:run", "python:os.py:system"):  # fmt: skip
                tests = [
                    {
                        "vars": {"w": "hi"},
                        "options": {"rubricPrompt": code},
                        "assert": [{"type": "llm-rubric", "value": "ok", "provider": ref}],
                    }
                ]
                detail = refused(evaluate(site, config(tests=tests)), "tests[0].assert[0].provider")
                if site is on:
                    assert "outside the project folder" in detail or "not found" in detail
                refused(evaluate(site, config(providers=[ref])), "providers[0]")
        finally:
            (site.project / "prof.py").unlink()
        assert not canary.exists()


def test_allowed_python_runs_inside_the_project_only(on: Site) -> None:
    inside = on.evil("inside")
    resp = evaluate(
        on, config(providers=["python:inside.py"], tests=graded(provider="python:inside.py"))
    )
    assert resp.status_code == 202, resp.text
    detail = wait_finished(on, resp.json()["job_id"])
    assert detail["job"]["status"] == "succeeded" and detail["summary"]["passed"] == 1
    assert "called" in inside.read_text()  # the project's own Python ran, as a task and a judge

    outside = on.evil("outside", folder=on.tmp)
    sub = on.project / "sub"
    sub.mkdir()
    (sub / "link.py").symlink_to(on.tmp / "outside.py")
    for ref in ("python:../../outside.py", "python:sub/../../../outside.py",
                "python:sub/link.py", "python:~/outside.py"):  # fmt: skip
        refused(evaluate(on, config(providers=[ref])), "providers[0]")
        refused(evaluate(on, config(tests=graded(provider=ref))), "tests[0].assert[0].provider")
    linked = [
        {"type": "python", "value": "file://sub/link.py"},
        {"type": "javascript", "value": "file://sub/link.py"},
        {"type": "contains", "value": "hi", "transform": "file://sub/link.py"},
    ]
    for assertion in linked:
        cfg = config(tests=[{"vars": {"w": "hi"}, "assert": [assertion]}])
        refused(evaluate(on, cfg), "tests[0].assert[0]", "outside the project folder")
    assert not outside.exists()


# -- resume -----------------------------------------------------------------------------------


def test_resume_after_python_was_turned_off(tmp_path: Path) -> None:
    """A job accepted while Python was allowed runs under today's policy when resumed: its
    Python judge is refused before any call, and the job fails naming it."""
    root = tmp_path / "projects"
    (root / PROJECT).mkdir(parents=True)
    canary = write_evil(root / PROJECT, tmp_path, "resumed", sleep=0.2)
    tests = [{"vars": {"w": f"w{i}"}, "assert": [{"type": "llm-rubric", "value": "ok"}]}
             for i in range(30)]  # fmt: skip
    cfg = config(defaultTest={"options": {"provider": "python:resumed.py"}}, tests=tests,
                 evaluateOptions={"maxConcurrency": 1})  # fmt: skip
    with running_server(tmp_path, projects_root=root, env=PYTHON_ON) as first:
        site = Site(first, root, tmp_path)
        resp = evaluate(site, cfg)
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        deadline = time.monotonic() + 30
        while not trial_events(site, job_id):
            assert time.monotonic() < deadline, "no trial finished"
            time.sleep(0.05)
        assert httpx.post(f"{first.api}/jobs/{job_id}/cancel", timeout=10).status_code == 202
        assert wait_finished(site, job_id)["job"]["status"] == "cancelled"
    assert "called" in canary.read_text()  # it did run while allowed
    canary.unlink()
    with running_server(tmp_path, db=first.db, projects_root=root) as second:  # Python off
        site = Site(second, root, tmp_path)
        trials = trial_events(site, job_id)
        assert 0 < trials < 30
        resp = httpx.post(f"{second.api}/jobs/{job_id}/resume", timeout=10)
        assert resp.status_code == 202, resp.text
        detail = wait_finished(site, job_id)
        assert detail["job"]["status"] == "failed", detail["job"]
        assert "options.provider" in detail["job"]["error"]
        assert PYTHON_OFF in detail["job"]["error"]
        assert trial_events(site, job_id) == trials  # no call was made
    assert not canary.exists()
