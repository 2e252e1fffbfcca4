"""`promptyard optimize` as a user runs it: the live table and the result, the -o JSON, the
winner saved into the project's store with its label moved, Ctrl-C, and clean errors.

The task is `echo` (the output is the rendered prompt) and every case wants "please", so the
seed scores 0 and "Please <seed>" scores 1. The proposer is a scripted model on the stub:
it prepends "Please" when the prompt lacks it, else answers a no-better variant.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from bench.stub_server import StubServer
from bench.task_model import please_proposer
from tests.e2e.clitools import Project, assert_clean_error, cli_command, cli_env, read_json

from promptyard.store import Store

PROPOSER = "cli-proposer"
SEED = "Answer: {{q}}"
WINNER = "Please Answer: {{q}}"


def install_proposer(stub: StubServer) -> dict[str, str]:
    """The scripted proposer on the stub; the environment that points `openai:` at it."""
    stub.add_model(PROPOSER, please_proposer())
    return {"OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-test"}


def write_config(project: Project, cases: int = 30) -> None:
    tests = "".join(f"  - vars: {{q: q{i}}}\n    assert: [{{type: icontains, value: please}}]\n"
                    for i in range(cases))  # fmt: skip
    project.write("promptyard.yaml", f'prompts:\n  - "{SEED}"\nproviders:\n  - echo\n'
                                     f"tests:\n{tests}")  # fmt: skip


def store(project: Project) -> Store:
    return Store.open(f"sqlite:///{project.root / '.promptyard' / 'promptyard.db'}")


ARGS = ("optimize", "-c", "promptyard.yaml", "--proposer-model", f"openai:chat:{PROPOSER}")


def test_optimize_shows_the_steps_and_the_result_then_saves_and_moves_the_label(
    project: Project,
) -> None:
    env = install_proposer(project.stub)
    write_config(project)
    before = store(project)  # the prompt is already deployed: version 1 is the seed
    try:
        before.registry.create_prompt("support", template=SEED)
        before.registry.set_label("support", "production", 1)
    finally:
        before.close()

    result = project.cli(*ARGS, "--max-cycles", "5", "--patience", "1", "--param",
                         "candidates=1", "--save", "support", "--label", "production",
                         "-o", "out.json", env=env)  # fmt: skip
    assert result.returncode == 0, str(result)
    out = result.stdout
    # The table: the seed, the accepted winner (* best), the rejected variant.
    assert re.search(r"^\W*0\s.*\(seed\).*0\.000.*0\.000.*seed", out, re.M), out
    assert re.search(r"^\W*1\*\s.*Please Answer: \{\{q\}\}.*1\.000.*1\.000.*accepted", out, re.M)
    assert re.search(r"^\W*2\s.*\(variant 1\).*1\.000.*1\.000.*rejected", out, re.M), out
    # The result: the winner, its diff, test scores with intervals, the gap, why it stopped.
    assert "Best prompt (step 1)" in out
    assert "--- seed\n+++ step 1\n" in out and f"\n-{SEED}\n+{WINNER}\n" in out
    assert re.search(r"Test \(\d+ cases, 95% CI\): seed 0\.000 \[0\.000, 0\.000\] -> best "
                     r"1\.000 \[1\.000, 1\.000\]; difference \+1\.000", out), out  # fmt: skip
    assert "Validation - test gap: +0.000 (validation 1.000, test 1.000)" in out
    assert "Stopped: no accepted candidate in 1 cycles." in out
    assert "Saved support version 2; label production -> 2" in out

    data = read_json(project.root / "out.json")
    assert (data["seed_prompt"], data["best_prompt"], data["best_step"]) == (SEED, WINNER, 1)
    assert (data["seed_test"], data["best_test"], data["val_test_gap"]) == (0.0, 1.0, 0.0)
    assert [i["accepted"] for i in data["iterations"]] == [True, True, False]
    assert data["iterations"][2]["test_score"] is None  # NaN-free: strict JSON

    after = store(project)
    try:
        deployed = after.registry.resolve_prompt("support:production")
        assert (deployed.version, deployed.template) == (2, WINNER)
        assert after.registry.get_prompt_version("support", 1).template == SEED
        stored = after.iterations.list(data["optimization_id"], order="val")
        assert [i.step for i in stored] == [1, 2, 0]
    finally:
        after.close()


def test_ctrl_c_prints_the_best_so_far_and_saves_nothing(project: Project) -> None:
    env = install_proposer(project.stub)
    write_config(project)
    project.stub.set_latency(300)  # each proposal takes 0.3 s
    args = [*ARGS, "--max-cycles", "200", "--patience", "200", "--save", "support"]
    with subprocess.Popen(cli_command(*args), cwd=project.root, env=cli_env(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            # A second proposer request means cycle 1 ended: the winner has been accepted.
            while project.stub.request_count < 2:
                assert proc.poll() is None and time.monotonic() < deadline, "no second proposal"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, f"{stdout}\n{stderr}"
    assert "Traceback" not in stdout + stderr
    assert "Best prompt (step 1)" in stdout and f"+{WINNER}" in stdout
    assert "Test: not scored" in stdout and "Stopped: cancelled." in stdout
    assert "Not saved to support: the search was cancelled." in stdout
    assert not (project.root / ".promptyard").exists() or _no_prompt(project, "support")


def _no_prompt(project: Project, name: str) -> bool:
    s = store(project)
    try:
        return name not in {p.name for p in s.registry.list_prompts()[0]}
    finally:
        s.close()


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--optimizer", "nope"], ["optimizer: unknown optimizer 'nope'", "instruct"]),
        (["--param", "candidates=lots"], ["hyperparameters.candidates: must be int"]),
        (["--param", "candidates"], ["--param: expected NAME=VALUE"]),
        (["--param", "temperature=1"], ["unknown hyperparameter(s) for instruct: temperature"]),
        (["--metric", "f1"], ["--metric: must be score or pass"]),
        (["--train-split-ratio", "1.5"], ["--train-split-ratio: must be between 0 and 1"]),
        (["--label", "production"], ["--label: needs --save NAME"]),
        (["-c", "missing.yaml"], ["missing.yaml", "config file not found"]),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_1(
    project: Project, extra: list[str], needles: list[str]
) -> None:
    write_config(project)
    result = project.cli(*ARGS, *extra)
    assert_clean_error(result, *needles, code=1)
    assert len(result.stderr.strip().splitlines()) == 1, str(result)
    assert project.stub.request_count == 0  # nothing was called


def test_an_optimizer_that_needs_a_proposer_says_so(project: Project) -> None:
    write_config(project)
    result = project.cli("optimize", "--optimizer", "gepa")  # the config here, by default
    assert_clean_error(result, "--proposer-model", "gepa optimizer needs a proposer", code=1)


def test_help_lists_the_options(project: Project) -> None:
    result = project.cli("optimize", "--help")
    assert result.returncode == 0, str(result)
    for option in ("--optimizer", "--proposer-model", "--max-cost-usd", "--param", "--save",
                   "--label", "--train-split-ratio", "--stability-samples"):  # fmt: skip
        assert option in result.stdout
