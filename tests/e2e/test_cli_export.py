"""Results files: `eval -o` (several at once) and `promptyard export`, parsed back."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from typing import Any

from tests.e2e.clitools import (
    Project,
    assert_clean_error,
    cli_command,
    cli_env,
    read_json,
    run_id_from,
)

TESTS = """\
  - description: passes
    vars: {word: alpha}
    assert:
      - {type: contains, value: alpha}
      - {type: icontains, value: REPEAT, metric: polite}
  - description: fails
    vars: {word: beta}
    assert:
      - {type: contains, value: beta}
      - {type: equals, value: nope}
"""


def _check_promptfoo_shape(doc: dict[str, Any], run_id: str) -> None:
    assert doc["evalId"] == run_id
    results = doc["results"]["results"]
    assert [r["success"] for r in results] == [True, False]
    assert [r["score"] for r in results] == [1.0, 0.5]
    assert [r["response"]["output"] for r in results] == ["Repeat: alpha", "Repeat: beta"]
    assert [r["vars"] for r in results] == [{"word": "alpha"}, {"word": "beta"}]
    ok, bad = (r["gradingResult"] for r in results)
    assert ok["pass"] is True and bad["pass"] is False
    assert [c["assertion"]["type"] for c in ok["componentResults"]] == ["contains", "icontains"]
    assert [c["pass"] for c in bad["componentResults"]] == [True, False]
    assert [c["score"] for c in bad["componentResults"]] == [1.0, 0.0]
    assert bad["componentResults"][1]["assertion"]["value"] == "nope"
    assert "nope" in bad["componentResults"][1]["reason"]
    assert results[0]["namedScores"] == {"polite": 1.0}
    assert doc["results"]["stats"]["successes"] == 1
    assert doc["results"]["stats"]["failures"] == 1
    assert doc["results"]["stats"]["tokenUsage"]["total"] == 10
    assert doc["summary"]["total"] == 2 and doc["summary"]["passed"] == 1


def test_eval_writes_json_jsonl_and_csv_at_once(project: Project) -> None:
    project.config(TESTS)
    result = project.eval("-o", "out/r.json", "-o", "r.jsonl", "--output", "r.csv")
    assert result.returncode == 100, str(result)
    run_id = run_id_from(result)

    _check_promptfoo_shape(read_json(project.root / "out/r.json"), run_id)

    lines = (project.root / "r.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["success"] for r in rows] == [True, False]
    assert rows[1]["gradingResult"]["componentResults"][1]["pass"] is False

    with (project.root / "r.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["description"] for r in table] == ["passes", "fails"]
    assert [r["success"] for r in table] == ["true", "false"]
    assert [r["output"] for r in table] == ["Repeat: alpha", "Repeat: beta"]
    assert json.loads(table[0]["vars"]) == {"word": "alpha"}
    assert "nope" in table[1]["reason"]
    assert table[0]["prompt_tokens"] == "3" and table[0]["completion_tokens"] == "2"


def test_export_command_by_prefix_in_every_format(project: Project) -> None:
    project.config(TESTS)
    result = project.eval()
    run_id = run_id_from(result)
    prefix = run_id[:6]

    as_json = project.cli("export", prefix, "--format", "json")
    assert as_json.returncode == 0, str(as_json)
    _check_promptfoo_shape(json.loads(as_json.stdout), run_id)

    as_jsonl = project.cli("export", prefix, "-f", "jsonl")
    assert as_jsonl.returncode == 0, str(as_jsonl)
    rows = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert [r["description"] for r in rows] == ["passes", "fails"]

    as_csv = project.cli("export", prefix, "--format", "csv")
    assert as_csv.returncode == 0, str(as_csv)
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["success"] for r in table] == ["true", "false"]

    # The format follows the output file's extension when --format is not given.
    to_file = project.cli("export", prefix, "-o", "exported.jsonl")
    assert to_file.returncode == 0, str(to_file)
    lines = (project.root / "exported.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["success"] for line in lines] == [True, False]


def test_unknown_output_extension_fails_before_any_call(project: Project) -> None:
    project.config(TESTS)
    result = project.eval("-o", "r.json", "-o", "results.pdf")
    assert_clean_error(result, "results.pdf", "unknown extension", ".json")
    assert project.stub.request_count == 0
    assert not (project.root / "r.json").exists()


def test_export_rejects_unknown_format(project: Project) -> None:
    project.config(TESTS)
    run_id = run_id_from(project.eval())
    result = project.cli("export", run_id[:8], "--format", "xml")
    assert_clean_error(result, "xml", "json, jsonl, csv")
    bad_ext = project.cli("export", run_id[:8], "-o", "out.pdf")
    assert_clean_error(bad_ext, "out.pdf", "unknown extension")


def test_unwritable_output_is_a_clear_error_and_the_run_is_kept(project: Project) -> None:
    project.config(TESTS)
    project.write("taken", "a file, not a folder\n")
    result = project.eval("-o", "taken/r.json")
    assert_clean_error(result, "taken/r.json")
    run_id = run_id_from(result)  # the run itself finished and was stored before the write
    shown = project.cli("runs", "show", run_id[:8])
    assert shown.returncode == 0, str(shown)


def test_export_to_a_closed_pipe_exits_quietly(project: Project) -> None:
    project.config(TESTS)
    run_id = run_id_from(project.eval())
    # Like `promptyard export RUN | head -0`: the reader is gone before the first write.
    with subprocess.Popen(
        cli_command("export", run_id[:8], "--format", "jsonl"),
        cwd=project.root,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read()
        code = proc.wait(30)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == 0, stderr
