"""Ctrl-C during `promptyard eval`: a prompt exit (130), the run kept as `cancelled`, and exactly
the trials that had finished in the store, each complete."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time

from tests.e2e.clitools import Project, cli_command, cli_env, word_tests

CASES = 20
LATENCY_MS = 300


def test_ctrl_c_keeps_finished_trials_and_marks_the_run_cancelled(project: Project) -> None:
    project.config(word_tests(*(f"w{i}" for i in range(CASES))))
    project.stub.set_latency(LATENCY_MS)
    # -v prints one line per trial, after it is committed: our signal that work has finished.
    lines: list[str] = []
    enough = threading.Event()
    with subprocess.Popen(
        cli_command("eval", "--no-progress", "--verbose", "-j", "2", "-o", "out.json"),
        cwd=project.root,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if sum("PASS" in seen for seen in lines) >= 3:
                    enough.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert enough.wait(20), "no trial finished in time:\n" + "".join(lines)
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            code = proc.wait(10)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(5)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
    stdout = "".join(lines)
    assert code == 130, f"exit {code}\n{stdout}\n{stderr}"
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    assert "Traceback" not in stderr + stdout
    assert "(cancelled) saved" in stdout
    assert re.search(rf"Cancelled: \d+ of {CASES} planned trials finished", stdout), stdout

    reported = sorted(int(i) for i in re.findall(r"PASS #(\d+)", stdout))
    assert 0 < len(reported) < CASES

    # What the store holds is what was reported finished: no more, no fewer, all complete.
    listing = project.cli("runs", "list")
    assert "cancelled" in listing.stdout
    run_id = json.loads((project.root / "out.json").read_text())["evalId"]
    shown = project.cli("runs", "show", run_id[:8])
    assert shown.returncode == 0, str(shown)
    assert "cancelled" in shown.stdout

    exported = project.cli("export", run_id[:8], "--format", "jsonl")
    assert exported.returncode == 0, str(exported)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(r["id"].rsplit(":", 1)[1] for r in rows) == sorted(str(i) for i in reported)
    for row in rows:
        assert row["success"] is True
        assert row["error"] is None
        assert row["response"]["output"] == f"Repeat: {row['vars']['word']}"
        assert row["gradingResult"]["componentResults"][0]["pass"] is True
    out_json = json.loads((project.root / "out.json").read_text())
    assert out_json["status"] == "cancelled"
    assert len(out_json["results"]["results"]) == len(rows)
