"""`promptyard runs list|show`: stored runs, newest first; prefixes; clear errors."""

from __future__ import annotations

from tests.e2e.clitools import Project, assert_clean_error, run_id_from, word_tests


def _ids_in(stdout: str, ids: list[str]) -> list[str]:
    """The given run ids in the order `runs list` printed them (first 8 characters)."""
    found = [(stdout.find(i[:8]), i) for i in ids if i[:8] in stdout]
    return [i for _, i in sorted(found)]


def test_runs_list_is_newest_first_and_show_takes_a_prefix(project: Project) -> None:
    project.config(word_tests("alpha", "beta", expect={"beta": "omega"}))
    ids = []
    for name in ("first-run", "second-run", "third-run"):
        result = project.eval("--description", name)
        assert result.returncode == 100, str(result)
        ids.append(run_id_from(result))

    listing = project.cli("runs", "list")
    assert listing.returncode == 0, str(listing)
    assert _ids_in(listing.stdout, ids) == ids[::-1]
    for name in ("first-run", "second-run", "third-run"):
        assert name in listing.stdout, listing.stdout
    assert "50.0%" in listing.stdout

    limited = project.cli("runs", "list", "-n", "1")
    assert _ids_in(limited.stdout, ids) == [ids[2]]

    shown = project.cli("runs", "show", ids[1][:7])
    assert shown.returncode == 0, str(shown)
    assert ids[1] in shown.stdout
    assert "second-run" in shown.stdout
    assert "1/2 passed (50.0%)" in shown.stdout
    assert "case-beta" in shown.stdout and "omega" in shown.stdout  # the failure


def test_runs_show_unknown_prefix_is_a_clear_error(project: Project) -> None:
    project.config(word_tests("alpha"))
    assert project.eval().returncode == 0
    result = project.cli("runs", "show", "zzzz")
    assert_clean_error(result, "no run matches 'zzzz'")
    exported = project.cli("export", "zzzz")
    assert_clean_error(exported, "no run matches 'zzzz'")


def test_runs_show_ambiguous_prefix_is_a_clear_error(project: Project) -> None:
    from promptyard.store import Store, default_database_url

    # Two runs whose ids share a prefix, written through the store's own API.
    store = Store.open(default_database_url(str(project.root)))
    try:
        for run_id in (
            "abcd0000-0000-4000-8000-000000000001",
            "abcd0000-0000-4000-8000-00000000002",
        ):
            store.create_run(
                run_id=run_id,
                description="seeded",
                config={},
                created_at="2026-01-01T00:00:00+00:00",
                prompts=[],
                providers=[],
            )
    finally:
        store.close()
    result = project.cli("runs", "show", "abcd")
    assert_clean_error(result, "ambiguous", "abcd0000-0000-4000-8000-000000000001")
    one = project.cli("runs", "show", "abcd0000-0000-4000-8000-00000000002")
    assert one.returncode == 0, str(one)


def test_runs_list_on_an_empty_project_works(project: Project) -> None:
    result = project.cli("runs", "list")
    assert result.returncode == 0, str(result)
    assert "Traceback" not in result.stderr
