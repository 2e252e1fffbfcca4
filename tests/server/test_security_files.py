"""File confinement over real HTTP: a config sent to `promptyard serve` reads only files inside
its project's folder, and one sent without a project reads none. Every way out the loader once
left open has a test here: bare paths (prompts, keys of the prompts map, `tests`), `~`, a
colon inside the path, `{a,b}` alternatives, globs, symlinks reached directly or through a
glob, and no project at all. The secret files sit outside the projects root (in the module's
tmp folder); their content must reach no answer, job event, job detail, run or stub request,
and error messages must not show the server's absolute paths."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.serverctl import ServerProcess, running_server
from bench.stub_server import StubServer

TOKEN = f"canary{uuid.uuid4().hex[:10]}"  # in every secret file; never in any answer


@dataclass
class Env:
    server: ServerProcess
    tmp: Path  # holds the secrets, the projects root and $HOME
    project: Path  # projects/p


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("files")
    project = tmp / "projects" / "p"
    project.mkdir(parents=True)
    (project / "ok.txt").write_text("Say {{q}}\n")
    (project / "word.txt").write_text("inside\n")
    (tmp / "secret.txt").write_text(f"{TOKEN} text\n")
    (tmp / "secret").write_text(f"{TOKEN} no extension\n")  # like /etc/passwd
    (tmp / "secret.json").write_text(json.dumps(f"{TOKEN} json"))
    (tmp / "secret.csv").write_text(f"q\n{TOKEN} csv\n")
    (tmp / "header.csv").write_text(f"__{TOKEN}\nx\n")  # an error would quote its first line
    (tmp / "secret.yaml").write_text(f"{TOKEN}: 1\n")  # an error would quote its key
    (tmp / "outside").mkdir()
    (tmp / "outside" / "t.csv").write_text(f"q\n{TOKEN} linked folder\n")
    (tmp / "home").mkdir()
    (tmp / "home" / "secret.txt").write_text(f"{TOKEN} home\n")
    os.symlink(tmp / "secret.txt", project / "link.txt")
    os.symlink(tmp / "outside", project / "linkdir")
    with running_server(tmp, projects_root=tmp / "projects",
                        env={"HOME": str(tmp / "home")}) as server:  # fmt: skip
        yield Env(server, tmp, project)


@dataclass
class Outcome:
    status: int  # of the POST
    error: str  # the 400's detail or the failed job's error; "" when it succeeded
    seen: str  # everything the caller or the vendor could see


def attempt(env: Env, stub: StubServer, config: dict[str, Any], project: str | None) -> Outcome:
    """POST /api/evaluate; wait for the job when accepted; gather every answer, the job's
    detail and events, its run's trials, and what the stub received."""
    api = env.server.api
    body: dict[str, Any] = {"config": config}
    if project is not None:
        body["project"] = project
    resp = httpx.post(f"{api}/evaluate", json=body, timeout=30)
    seen = [resp.text]
    error = ""
    if resp.status_code == 400:
        error = resp.json()["detail"]
    else:
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        deadline = time.monotonic() + 60
        while True:
            detail_resp = httpx.get(f"{api}/jobs/{job_id}", timeout=10)
            detail = detail_resp.json()
            if detail["job"]["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, f"job {job_id} did not finish"
            time.sleep(0.05)
        seen.append(detail_resp.text)  # the job, its manifest, summary and every event
        error = detail["job"].get("error") or ""
        run_id = detail["job"].get("run_id")
        if run_id:
            seen.append(httpx.get(f"{api}/runs/{run_id}/trials", timeout=10).text)
    seen.append(json.dumps(stub.requests))
    return Outcome(resp.status_code, error, "\n".join(seen))


def stub_provider(stub: StubServer) -> dict[str, Any]:
    return {"id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": stub.base_url, "apiKey": "sk-test"}}  # fmt: skip


def config_with(stub: StubServer, **overrides: Any) -> dict[str, Any]:
    """A config whose prompt sends `q` to the stub (which echoes it), with overrides."""
    return {"prompts": ["Say {{q}}"], "providers": [stub_provider(stub)],
            "tests": [{"vars": {"q": "x"}}], **overrides}  # fmt: skip


def fill(value: Any, tmp: Path) -> Any:
    """Put the secrets' folder into `{tmp}` placeholders (strings, keys, lists, mappings)."""
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp))
    if isinstance(value, list):
        return [fill(v, tmp) for v in value]
    if isinstance(value, dict):
        return {fill(k, tmp): fill(v, tmp) for k, v in value.items()}
    return value


def assert_no_server_path(message: str, env: Env, written: list[str]) -> None:
    """No absolute server path in `message`, beyond what the caller wrote itself."""
    for ref in sorted(written, key=len, reverse=True):
        message = message.replace(ref, "")
    assert str(env.tmp) not in message, message


def written_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in written_refs(v)]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in (*written_refs(k), *written_refs(v))]
    return []


COLON_JSON = "file://ok.txt:../../../../secret.json"  # ok.txt:.. is popped by the next ..
# id: (config overrides, project). Each of these read a secret before the resolver.
ESCAPES: dict[str, tuple[dict[str, Any], str | None]] = {
    "bare-absolute-prompt": ({"prompts": ["{tmp}/secret.txt"]}, "p"),
    "bare-absolute-prompt-without-extension": ({"prompts": ["{tmp}/secret"]}, "p"),
    "bare-relative-prompt": ({"prompts": ["../../secret.txt"]}, "p"),
    "prompt-object-raw": ({"prompts": [{"raw": "../../secret.txt", "label": "x"}]}, "p"),
    "prompts-map-key": ({"prompts": {"{tmp}/secret.txt": "a label"}}, "p"),
    "bare-tests-file": ({"tests": "{tmp}/secret.csv"}, "p"),
    "bare-tests-list-item": ({"tests": ["../../secret.csv"]}, "p"),
    "tilde-prompt": ({"prompts": ["file://~/secret.txt"]}, "p"),
    "tilde-var": ({"tests": [{"vars": {"q": "file://~/secret.txt"}}]}, "p"),
    "colon-in-path": ({"prompts": ["file://ok.txt:../../../../secret.txt"]}, "p"),
    "colon-in-assertion-value": (
        {"tests": [{"vars": {"q": "x"}, "assert": [{"type": "equals", "value": COLON_JSON}]}]},
        "p",
    ),
    "brace-alternatives": ({"prompts": ["file://{.,.}./{.,.}./secret.txt"]}, "p"),
    "brace-alternatives-tests": ({"tests": "file://{.,.}./{.,.}./secret.csv"}, "p"),
    "bare-glob": ({"prompts": ["../../secr*.txt"]}, "p"),
    "glob-matching-a-symlink": ({"prompts": ["file://lin*.txt"]}, "p"),
    "bare-symlink": ({"prompts": ["link.txt"]}, "p"),
    "symlinked-folder": ({"tests": "linkdir/t.csv"}, "p"),
    "no-project-prompt": ({"prompts": ["{tmp}/secret.txt"]}, None),
    "no-project-tests": ({"tests": "{tmp}/secret.csv"}, None),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_no_way_out_of_the_project_folder(env: Env, stub_server: StubServer, case: str) -> None:
    overrides, project = ESCAPES[case]
    overrides = fill(overrides, env.tmp)
    outcome = attempt(env, stub_server, config_with(stub_server, **overrides), project)
    assert TOKEN not in outcome.seen
    if case == "bare-absolute-prompt-without-extension":
        # a path-like prompt naming no file it may read is prompt text, as on the CLI when
        # the file does not exist: the path itself goes to the model, never the file
        assert outcome.status == 202 and outcome.error == "", outcome.error
        sent = stub_server.requests[0]["body"]["messages"][-1]["content"]
        assert sent == overrides["prompts"][0]
        return
    assert outcome.status == 400, outcome.seen
    expected = "need a project" if project is None else "outside the project folder"
    assert expected in outcome.error
    assert_no_server_path(outcome.error, env, written_refs(overrides))
    assert stub_server.request_count == 0


@pytest.mark.parametrize(
    "overrides",
    [{"defaultTest": "{tmp}/secret.yaml"}, {"tests": "{tmp}/header.csv"}],
    ids=["yaml-key", "csv-first-line"],
)
def test_refusals_quote_nothing_from_outside_files(
    env: Env, stub_server: StubServer, overrides: dict[str, Any]
) -> None:
    overrides = fill(overrides, env.tmp)
    outcome = attempt(env, stub_server, config_with(stub_server, **overrides), "p")
    assert TOKEN not in outcome.seen
    assert outcome.status == 400 and "outside the project folder" in outcome.error
    assert_no_server_path(outcome.error, env, written_refs(overrides))


@pytest.mark.parametrize(
    ("prompt", "fragment"),
    [("file://missing.txt", "file not found for prompt: missing.txt"),
     ("file://none/*.txt", "no files match 'none/*.txt'")],
)  # fmt: skip
def test_messages_show_no_server_path(
    env: Env, stub_server: StubServer, prompt: str, fragment: str
) -> None:
    outcome = attempt(env, stub_server, config_with(stub_server, prompts=[prompt]), "p")
    assert outcome.status == 400 and fragment in outcome.error
    assert str(env.tmp) not in outcome.error


def test_without_a_project_even_the_projects_root_is_closed(
    env: Env, stub_server: StubServer
) -> None:
    outcome = attempt(env, stub_server, config_with(stub_server, prompts=["p/ok.txt"]), None)
    assert outcome.status == 400 and "need a project" in outcome.error
    assert stub_server.request_count == 0


def test_files_inside_the_project_still_work(env: Env, stub_server: StubServer) -> None:
    """The control: what the tests above refuse is refused for where it leads, not for being
    a file (this one passed before the resolver too)."""
    config = config_with(stub_server, prompts=["ok.txt", "What is 1/2? {{q}}"],
                         tests=[{"vars": {"q": "file://word.txt"}}])  # fmt: skip
    outcome = attempt(env, stub_server, config, "p")
    assert outcome.status == 202 and outcome.error == "", outcome.error
    sent = sorted(r["body"]["messages"][-1]["content"] for r in stub_server.requests)
    assert sent == ["Say inside", "What is 1/2? inside"]


def test_job_details_show_no_server_path(env: Env, stub_server: StubServer) -> None:
    """A reader sees a job's manifest: it holds the config, never the project's folder, and a
    resume still finds the folder (from the project) and its files."""
    config = config_with(stub_server, prompts=["ok.txt"], tests=[{"vars": {"q": "x"}}])
    api = env.server.api
    job_id = httpx.post(f"{api}/evaluate", json={"config": config, "project": "p"}).json()["job_id"]
    deadline = time.monotonic() + 30
    while (detail := httpx.get(f"{api}/jobs/{job_id}").json())["job"]["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.05)
    text = json.dumps(detail)
    assert detail["job"]["status"] == "succeeded"
    assert str(env.tmp) not in text and "base_dir" not in text
