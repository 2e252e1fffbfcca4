"""Jobs and their events on SQLite and PostgreSQL, including concurrent appends.

One database per module and backend: a SQLite file, or a fresh PostgreSQL schema (set through
the connection's search_path) dropped at the end. Each test starts from empty job tables.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from promptyard.errors import Conflict, NotFound
from promptyard.store import Store
from promptyard.store.jobs import EventRecord, JobStore


@pytest.fixture
def store(opened: Store) -> Store:
    with opened.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))
        conn.execute(sa.text("DELETE FROM jobs"))
        conn.execute(sa.text("DELETE FROM servers"))
    return opened


@pytest.fixture
def js(store: Store) -> JobStore:
    return store.jobs


MANIFEST = {"config": {"prompts": ["Say {{x}}"], "providers": ["echo"]}, "options": {"n": 1}}


# -- lifecycle --------------------------------------------------------------------------------


def test_job_lifecycle(store: Store, js: JobStore) -> None:
    job = js.create_job("evaluate", MANIFEST, project="demo", created_by="tok-1")
    assert (job.kind, job.status, job.project, job.created_by) == (
        "evaluate",
        "queued",
        "demo",
        "tok-1",
    )
    assert job.manifest == MANIFEST and job.summary is None and not job.finished
    assert js.get_job(job.id) == job
    with store.engine.connect() as conn:  # "no summary yet" is SQL NULL, not JSON null
        assert (
            conn.execute(
                sa.text("SELECT COUNT(*) FROM jobs WHERE summary IS NULL AND id = :i"),
                {"i": job.id},
            ).scalar_one()
            == 1
        )

    running = js.set_status(job.id, "running", run_id="run-1")
    assert (running.status, running.run_id, running.finished_at) == ("running", "run-1", None)
    assert running.started_at is not None and running.started_at >= job.created_at

    summary = {"passed": 3, "failed": 1, "score": {"mean": 0.75}}
    done = js.set_status(job.id, "succeeded", summary=summary)
    assert (done.status, done.summary, done.run_id, done.finished) == (
        "succeeded",
        summary,
        "run-1",
        True,
    )
    assert done.finished_at is not None and done.finished_at >= running.started_at
    assert done.started_at == running.started_at
    assert json.loads(json.dumps(done.to_dict())) == done.to_dict()
    assert done.to_dict()["manifest"] == MANIFEST


def test_set_status_compare_and_set_and_resume(js: JobStore) -> None:
    job = js.create_job("run", {})
    js.set_status(job.id, "running", expected={"queued"})
    failed = js.set_status(job.id, "failed", error="provider: boom")
    assert (failed.status, failed.error) == ("failed", "provider: boom")
    with pytest.raises(Conflict, match=f"job {job.id} is failed, not running"):
        js.set_status(job.id, "cancelled", expected={"running"})
    assert js.get_job(job.id).status == "failed"

    # A resume goes back to queued: the error and finish time are cleared, the start kept.
    again = js.set_status(job.id, "queued", expected={"interrupted", "cancelled", "failed"})
    assert (again.status, again.error, again.finished_at) == ("queued", None, None)
    assert again.started_at == failed.started_at
    assert js.set_status(job.id, "running").started_at == failed.started_at

    with pytest.raises(ValueError, match="status 'done'"):
        js.set_status(job.id, "done")
    with pytest.raises(ValueError, match="kind 'train'"):
        js.create_job("train", {})
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        js.set_status(missing, "running")
    with pytest.raises(NotFound, match=missing):
        js.get_job(missing)


def test_list_jobs_filters_and_totals(js: JobStore) -> None:
    made = []
    for i, (kind, project) in enumerate(
        [("run", None), ("evaluate", "demo"), ("evaluate", None), ("optimize", "demo")] * 2
    ):
        job = js.create_job(kind, {"i": i}, project=project)
        made.append(job.id)
    js.set_status(made[0], "running")
    js.set_status(made[1], "succeeded")
    newest_first = made[::-1]

    def ids(**kw: Any) -> tuple[list[str], int]:
        items, total = js.list_jobs(**kw)
        return [j.id for j in items], total

    assert ids() == (newest_first, 8)
    assert ids(limit=3) == (newest_first[:3], 8)
    assert ids(limit=3, offset=6) == (newest_first[6:], 8)
    assert ids(kind="evaluate") == ([made[6], made[5], made[2], made[1]], 4)
    assert ids(kind="evaluate", project="demo") == ([made[5], made[1]], 2)
    assert ids(status="running") == ([made[0]], 1)
    assert ids(status=["running", "succeeded"]) == ([made[1], made[0]], 2)
    assert ids(status="queued", limit=2)[1] == 6
    assert ids(project="nowhere") == ([], 0)


# -- events -----------------------------------------------------------------------------------


def test_events_are_numbered_from_one_and_read_after_a_seq(js: JobStore) -> None:
    job = js.create_job("evaluate", MANIFEST)
    other = js.create_job("evaluate", MANIFEST)
    first = js.append_event(job.id, "trial", {"index": 0, "output": "héllo 🎉"})
    assert (first.seq, first.job_id, first.type, first.step_index) == (1, job.id, "trial", 0)
    js.append_event(other.id, "trial", {"index": 0})
    js.append_event(job.id, "step", {"n": 1}, step_index=1)
    batch = js.append_events(job.id, [("trial", {"index": 1}, 1), ("proposal", ["p"], 1)])
    assert [e.seq for e in batch] == [3, 4]
    last = js.append_event(job.id, "end", {"status": "succeeded"})
    assert last.seq == 5

    got = js.events(job.id)
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert got[0] == first and got[0].payload == {"index": 0, "output": "héllo 🎉"}
    assert [(e.type, e.step_index) for e in got] == [
        ("trial", 0),
        ("step", 1),
        ("trial", 1),
        ("proposal", 1),
        ("end", 0),
    ]
    assert [e.seq for e in js.events(job.id, after=3)] == [4, 5]
    assert [e.seq for e in js.events(job.id, after=1, limit=2)] == [2, 3]
    assert js.events(job.id, after=5) == []
    assert [e.seq for e in js.events(other.id)] == [1]
    assert js.events(str(uuid.uuid4())) == []
    env = got[1].to_dict()
    assert set(env) == {"seq", "job_id", "step_index", "type", "payload", "created_at"}
    assert json.loads(json.dumps(env)) == env

    with pytest.raises(ValueError, match="event type 'bogus'"):
        js.append_event(job.id, "bogus", {})
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        js.append_event(missing, "trial", {})
    assert js.append_events(job.id, []) == []
    assert [e.seq for e in js.events(job.id)] == [1, 2, 3, 4, 5]


def _hammer(stores: list[JobStore], job_id: str, threads: int, per_thread: int) -> list[Any]:
    """`threads` threads spread over `stores`, each appending `per_thread` events."""
    results: list[list[EventRecord]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        s = stores[t % len(stores)]
        try:
            start.wait()
            for i in range(per_thread):
                results[t].append(s.append_event(job_id, "trial", {"t": t, "i": i}))
        except BaseException as e:
            errors.append(e)

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert errors == []
    return results


def test_concurrent_appends_have_no_gaps_or_duplicates(js: JobStore) -> None:
    job = js.create_job("evaluate", MANIFEST)
    results = _hammer([js], job.id, threads=8, per_thread=50)
    stored = js.events(job.id)
    assert [e.seq for e in stored] == list(range(1, 401))
    returned = sorted(e.seq for r in results for e in r)
    assert returned == list(range(1, 401))
    for t, mine in enumerate(results):
        # Each thread's events are stored in the order it appended them.
        assert [e.seq for e in mine] == sorted(e.seq for e in mine)
        assert [e.payload["i"] for e in mine] == list(range(50))
        by_seq = {e.seq: e for e in stored}
        assert all(by_seq[e.seq].payload == {"t": t, "i": e.payload["i"]} for e in mine)


def test_concurrent_appends_from_two_stores_on_one_database(db_url: str, js: JobStore) -> None:
    """Two engines (as two server processes would have): the row lock keeps seq unique."""
    job = js.create_job("evaluate", MANIFEST)
    with Store.open(db_url) as second:
        _hammer([js, second.jobs], job.id, threads=6, per_thread=20)
    assert [e.seq for e in js.events(job.id)] == list(range(1, 121))


def test_mark_interrupted(js: JobStore) -> None:
    queued = js.create_job("run", {})
    running = js.create_job("evaluate", {})
    js.set_status(running.id, "running")
    done = js.create_job("evaluate", {})
    js.set_status(done.id, "succeeded", summary={"ok": True})
    cancelled = js.create_job("optimize", {})
    js.set_status(cancelled.id, "cancelled")

    assert sorted(js.mark_interrupted()) == sorted([queued.id, running.id])
    for job_id in (queued.id, running.id):
        job = js.get_job(job_id)
        assert job.status == "interrupted" and job.finished_at is not None
    assert js.get_job(done.id).status == "succeeded"
    assert js.get_job(cancelled.id).status == "cancelled"
    assert js.mark_interrupted() == []
    assert js.list_jobs(status="interrupted")[1] == 2


def test_jobs_part_is_built_once_on_the_store_engine(store: Store) -> None:
    assert store.jobs is store.jobs
    assert store.jobs.engine is store.engine


# -- server leases (several servers on one database) ------------------------------------------


def _reaped_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leases_decide_whose_jobs_are_interrupted(js: JobStore) -> None:
    import os

    from promptyard.store.jobs import this_node

    live, expired, crashed, me = (str(uuid.uuid4()) for _ in range(4))
    js.acquire_lease(live, lease_s=60, host="elsewhere", pid=1)
    js.acquire_lease(expired, lease_s=-1, host="elsewhere", pid=1)
    js.acquire_lease(crashed, lease_s=60, host=this_node(), pid=_reaped_pid())
    mine = js.acquire_lease(me, lease_s=60)
    assert (mine.host, mine.pid) == (this_node(), os.getpid())
    jobs_of = {owner: js.create_job("evaluate", MANIFEST, owner=owner).id
               for owner in (live, expired, crashed, me)}  # fmt: skip
    legacy = js.create_job("evaluate", MANIFEST).id  # no owner: from before leases
    js.set_status(jobs_of[live], "running")

    taken = js.mark_interrupted(me=me)
    assert sorted(taken) == sorted([jobs_of[expired], jobs_of[crashed], legacy])
    assert js.get_job(jobs_of[live]).status == "running"  # a live server's job is left alone
    assert js.get_job(jobs_of[me]).status == "queued"  # and so is the caller's own
    assert js.lease(expired) is None and js.lease(crashed) is None  # gone leases are deleted
    assert js.lease(live) is not None and js.renew_lease(live, lease_s=60)
    assert not js.renew_lease(expired, lease_s=60)  # it must stop what it still runs
    js.release_lease(live)
    assert js.mark_interrupted(me=me) == [jobs_of[live]]
    js.release_lease(me)  # no server left: every job still queued or running is interrupted
    assert js.mark_interrupted() == [jobs_of[me]]


def test_a_claim_refuses_a_live_owner_and_takes_over_a_gone_one(js: JobStore) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    js.acquire_lease(a, lease_s=60, host="elsewhere", pid=1)
    js.acquire_lease(b, lease_s=60)
    job = js.create_job("evaluate", MANIFEST, owner=a)
    js.set_status(job.id, "running", owner=a)
    with pytest.raises(Conflict, match=rf"belongs to server {a} .*which is alive"):
        js.claim(job.id, b)
    js.set_status(job.id, "cancelled", owner=a)
    with pytest.raises(Conflict, match="alive"):  # stopped, but its live owner may be ending it
        js.claim(job.id, b)
    with pytest.raises(Conflict, match=f"now belongs to server {a}"):
        js.set_status(job.id, "running", owner=b)  # the owner guard: b does not own it
    claimed = js.claim(job.id, a)  # its own server may resume it
    assert (claimed.status, claimed.owner) == ("queued", a)
    with pytest.raises(Conflict, match="alive"):
        js.claim(job.id, b)

    js.acquire_lease(a, lease_s=-1, host="elsewhere", pid=1)  # a's lease runs out
    taken = js.claim(job.id, b)  # queued under a gone owner: interrupted, then taken
    assert (taken.status, taken.owner, taken.finished_at) == ("queued", b, None)
    with pytest.raises(Conflict, match=f"now belongs to server {b}"):
        js.append_events(job.id, [("trial", {}, 0)], owner=a)
    with pytest.raises(Conflict, match="is queued"):
        js.claim(job.id, b)  # not stopped
    done = js.create_job("evaluate", MANIFEST, owner=b)
    js.set_status(done.id, "succeeded")
    with pytest.raises(Conflict, match="is succeeded"):
        js.claim(done.id, b)


def test_the_final_status_and_its_end_event_are_one_write(js: JobStore) -> None:
    job = js.create_job("evaluate", MANIFEST, owner="srv")
    js.append_events(job.id, [("trial", {"i": 0}, 0)], owner="srv")
    assert js.last_event(job.id) is not None and js.last_event(job.id).type == "trial"
    end = {"status": "succeeded", "summary": {"ok": 1}, "error": None, "run_id": "r1"}
    (rec,) = js.append_events(job.id, [("end", {"status": "succeeded"}, 0)], owner="srv",
                              status=end)  # fmt: skip
    got = js.get_job(job.id)
    assert (got.status, got.summary, got.run_id) == ("succeeded", {"ok": 1}, "r1")
    assert got.finished_at is not None and js.last_event(job.id) == rec
    with pytest.raises(ValueError, match="job status 'done'"):
        js.append_events(job.id, [("end", {}, 0)], status={"status": "done"})
    assert js.last_event(str(uuid.uuid4())) is None
