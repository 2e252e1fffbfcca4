"""The one file resolver (promptyard.trust.files) and the loader's use of it: under a confining
policy every reference (file:// or bare; ~, {a,b}, globs, symlinks, colons, ..) stays inside
the folder, refusals neither reveal nor quote what is outside, and messages never show the
folder's absolute path. The local policy (CLI, library) reads anything the user can."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from promptyard.errors import ConfigError
from promptyard.project import load_config_dict
from promptyard.scorers.values import load_file_value
from promptyard.trust import TrustPolicy
from promptyard.trust.files import (
    FileRefError,
    display,
    resolve,
    resolve_code,
    resolve_one,
    split_function,
)

STRICT = TrustPolicy(confine_files=True)
LOCAL = TrustPolicy()
CANARY = "CANARY-7f3a"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/proj (the folder) with prompts and symlinks out; secrets in tmp and tmp/home ($HOME)."""
    proj = tmp_path / "proj"
    (proj / "prompts").mkdir(parents=True)
    (proj / "prompts" / "a.txt").write_text("A {{q}}")
    (proj / "prompts" / "b.txt").write_text("B {{q}}")
    (proj / "ok.txt").write_text("ok")
    (proj / "ok.py").write_text("def fn(output, context):\n    return True\n")
    (proj / "a:b.txt").write_text("colon in the name")
    (tmp_path / "secret.txt").write_text(CANARY)
    (tmp_path / "secret").write_text(CANARY)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "s.txt").write_text(CANARY)
    (tmp_path / "outside" / "t.csv").write_text(f"q\n{CANARY}\n")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "secret.txt").write_text(CANARY)
    os.symlink(tmp_path / "secret.txt", proj / "link.txt")
    os.symlink(tmp_path / "outside", proj / "linkdir")
    os.symlink(tmp_path / "nowhere.txt", proj / "dangling.txt")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return proj


def refused(ref: str, base: Path | None, policy: TrustPolicy = STRICT) -> FileRefError:
    with pytest.raises(FileRefError) as info:
        resolve(policy, ref, None if base is None else str(base), what="prompt")
    assert info.value.outside, info.value
    return info.value


# ------------------------------------------------------------ the resolver, confined


def test_inside_references_resolve_to_real_paths(tree: Path) -> None:
    base = str(tree)
    assert resolve(STRICT, "file://ok.txt", base, what="x") == [str(tree / "ok.txt")]
    assert resolve(STRICT, "ok.txt", base, what="x") == [str(tree / "ok.txt")]  # bare = file://
    assert resolve(STRICT, "prompts/../ok.txt", base, what="x") == [str(tree / "ok.txt")]
    assert resolve(STRICT, str(tree / "ok.txt"), base, what="x") == [str(tree / "ok.txt")]
    assert resolve(STRICT, "file://prompts/*.txt", base, what="x") == [
        str(tree / "prompts" / "a.txt"),
        str(tree / "prompts" / "b.txt"),
    ]
    assert resolve(STRICT, "prompts/{b,a}.txt", base, what="x") == [
        str(tree / "prompts" / "a.txt"),
        str(tree / "prompts" / "b.txt"),
    ]
    # a colon is part of the path: this is the file named "a:b.txt", and only that
    assert resolve(STRICT, "file://a:b.txt", base, what="x") == [str(tree / "a:b.txt")]


@pytest.mark.parametrize(
    "ref",
    [
        "../secret.txt",  # ..
        "file://../secret.txt",
        "prompts/../../secret.txt",
        "{SECRET}",  # an absolute path (filled in below)
        "file://~/secret.txt",  # ~ is $HOME, outside
        "~/secret.txt",
        "file://ok.txt:../../../secret.txt",  # a colon does not end the path
        "file://{.,.}./secret.txt",  # {a,b} alternatives expand to ..
        "file://{ok.txt,../secret.txt}",
        "file://../*.txt",  # a glob outside
        "file://../**/s.txt",
        "file://link.txt",  # a symlink out
        "link.txt",
        "file://lin*.txt",  # a glob that matches a symlink out
        "file://linkdir/s.txt",  # a symlinked folder
        "linkdir/*.txt",
        "file://dangling.txt",  # a symlink to nothing outside: refused, not "not found"
        "prompts/*/../../../secret.txt",
    ],
)
def test_every_way_out_is_refused(tree: Path, ref: str) -> None:
    ref = ref.replace("{SECRET}", str(tree.parent / "secret.txt"))
    error = refused(ref, tree)
    message = str(error)
    assert "outside the project folder" in message
    assert repr(ref) in message  # the reference as written
    assert CANARY not in message
    if not ref.startswith("/"):
        assert str(tree.parent) not in message  # never the folder's absolute path


def test_refusal_does_not_depend_on_whether_the_outside_file_exists(tree: Path) -> None:
    exists = str(refused("../secret.txt", tree)).replace("secret", "NAME")
    missing = str(refused("../nothing.txt", tree)).replace("nothing", "NAME")
    assert exists == missing
    glob_exists = str(refused("../secr*.txt", tree)).replace("secr", "NAME")
    glob_missing = str(refused("../noth*.txt", tree)).replace("noth", "NAME")
    assert glob_exists == glob_missing


def test_without_a_folder_nothing_is_read(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for ref in ("ok.txt", "file://ok.txt", str(tree / "ok.txt"), "*.txt"):
        assert "need a project" in str(refused(ref, None))
    # the local policy reads relative to the current directory instead
    monkeypatch.chdir(tree)
    assert resolve(LOCAL, "ok.txt", None, what="x") == [str(tree / "ok.txt")]


def test_missing_files_inside_say_so_without_server_paths(tree: Path) -> None:
    with pytest.raises(FileRefError) as info:
        resolve(STRICT, "file://missing.txt", str(tree), what="prompt")
    assert not info.value.outside
    assert "file not found for prompt: missing.txt" in str(info.value)
    assert str(tree) not in str(info.value)
    with pytest.raises(FileRefError) as info:
        resolve(STRICT, "none/*.csv", str(tree), what="tests")
    assert "no files match 'none/*.csv'" in str(info.value) and str(tree) not in str(info.value)
    assert resolve(STRICT, "missing.txt", str(tree), what="x", must_exist=False) == [
        str(tree / "missing.txt")
    ]


# ------------------------------------------------------------ the local policy: unchanged


def test_local_policy_reads_anywhere_and_names_paths(tree: Path) -> None:
    base = str(tree)
    assert resolve(LOCAL, "../secret.txt", base, what="x") == [str(tree.parent / "secret.txt")]
    assert resolve(LOCAL, "~/secret.txt", base, what="x") == [
        str(tree.parent / "home" / "secret.txt")
    ]
    # the path as named (a symlink keeps its name: prompt labels come from it)
    assert resolve(LOCAL, "link.txt", base, what="x") == [str(tree / "link.txt")]
    with pytest.raises(FileRefError, match="resolved to"):
        resolve(LOCAL, "missing.txt", base, what="x")
    with pytest.raises(FileRefError, match="looked in"):
        resolve(LOCAL, "none/*.csv", base, what="x")


# ------------------------------------------------------------ one file, code references


def test_resolve_one_returns_one_real_path(tree: Path) -> None:
    base = str(tree)
    assert resolve_one(STRICT, "file://ok.txt", base, what="x") == str(tree / "ok.txt")
    assert resolve_one(STRICT, "prompts/a*", base, what="x") == str(tree / "prompts" / "a.txt")
    assert resolve_one(LOCAL, "link.txt", base, what="x") == str(tree.parent / "secret.txt")
    with pytest.raises(FileRefError, match="names 2 files"):
        resolve_one(STRICT, "prompts/*.txt", base, what="x")
    with pytest.raises(FileRefError, match="outside"):
        resolve_one(STRICT, "file://ok.txt:../../../secret.txt", base, what="x")
    with pytest.raises(FileRefError, match="need a project"):
        resolve_one(STRICT, "ok.py", None, what="x")


def test_function_suffix_is_split_only_after_a_script(tree: Path) -> None:
    assert split_function("file://ok.py:fn") == ("file://ok.py", "fn")
    assert split_function("ok.py:fn") == ("ok.py", "fn")
    assert split_function("file://ok.py") == ("file://ok.py", None)
    assert split_function("file://a:b.txt") == ("file://a:b.txt", None)
    assert split_function("file://dir:x/check.js:run") == ("file://dir:x/check.js", "run")
    base = str(tree)
    assert resolve_code(STRICT, "file://ok.py:fn", base, what="x") == (str(tree / "ok.py"), "fn")
    # what is checked is what is opened: the part before the function, and nothing else
    assert resolve_code(STRICT, "file://ok.py:../../x.py", base, what="x")[0] == str(tree / "ok.py")
    with pytest.raises(FileRefError, match="outside"):
        resolve_code(STRICT, "file://../secret.py:fn", base, what="x")
    with pytest.raises(FileRefError, match="outside"):
        resolve_code(STRICT, "file://ok.txt:../../../secret.py:fn", base, what="x")


def test_display_never_shows_a_server_path(tree: Path) -> None:
    assert display(STRICT, str(tree / "prompts" / "a.txt"), str(tree)) == "prompts/a.txt"
    assert display(STRICT, "/srv/elsewhere/x.txt", str(tree)) == "x.txt"
    assert display(LOCAL, "/srv/elsewhere/x.txt", str(tree)) == "/srv/elsewhere/x.txt"


# ------------------------------------------------------------ the loader and assertion values


def config(**overrides: Any) -> dict[str, Any]:
    return {"prompts": ["Say {{q}}"], "providers": ["echo"], "tests": [{"vars": {"q": "x"}}],
            **overrides}  # fmt: skip


def load(tree: Path | None, policy: TrustPolicy = STRICT, **overrides: Any) -> Any:
    return load_config_dict(
        config(**overrides), base_dir=None if tree is None else str(tree), trust=policy
    )


def test_bare_prompt_outside_is_text_or_refused_by_its_name_alone(tree: Path) -> None:
    secret = str(tree.parent / "secret")
    # no prompt-file extension: text, as a path naming no file is on the command line
    spec = load(tree, prompts=[secret, "What is 1/2? {{q}}", "../secret"])
    assert [p.text for p in spec.prompts] == [secret, "What is 1/2? {{q}}", "../secret"]
    assert load(None, prompts=["and/or {{q}}"]).prompts[0].text == "and/or {{q}}"
    # a prompt-file extension: refused, whether the file exists or not
    for ref in (str(tree.parent / "secret.txt"), "../secret.txt", "../missing.txt", "link.txt"):
        with pytest.raises(ConfigError, match="outside the project folder") as info:
            load(tree, prompts=[ref])
        assert CANARY not in str(info.value)
    with pytest.raises(ConfigError, match="outside the project folder"):
        load(tree, prompts={str(tree.parent / "secret.txt"): "a label"})  # a key of the map
    # the local policy still reads them
    assert load(tree, LOCAL, prompts=[secret]).prompts[0].text == CANARY


@pytest.mark.parametrize(
    "overrides",
    [
        {"tests": "../secret.txt"},
        {"tests": ["file://linkdir/*.txt"]},
        {"defaultTest": "~/secret.txt"},
        {"tests": [{"vars": {"q": "file://{.,.}./secret.txt"}}]},
        {"providers": ["file://../outside/p.yaml"]},
        {"tests": [{"assert": [{"type": "equals", "value": "file://ok.txt:../../../secret.txt"}]}]},
        {"tests": [{"assert": [{"type": "contains-any", "value": ["a", "file://../secret.txt"]}]}]},
        {"tests": [{"assert": [{"type": "python", "value": "file://../secret.py:fn"}]}]},
        {"tests": [{"assert": [{"type": "equals", "value": "x", "transform": "file://../t.js"}]}]},
        {"defaultTest": {"options": {"rubricPrompt": "file://link.txt"}}},
        {"tests": [{"options": {"transform": "file://~/t.js"}}]},
        {"tests": [{"assert": [{"type": "assert-set",
                                "assert": [{"type": "equals", "value": "file://../x.json"}]}]}]},
    ],
)  # fmt: skip
def test_loader_refuses_every_file_it_or_grading_would_read_outside(
    tree: Path, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="outside the project folder") as info:
        load(tree, **overrides)
    assert CANARY not in str(info.value) and str(tree) not in str(info.value)
    with pytest.raises(ConfigError, match="need a project"):
        load(None, **overrides)


def test_loader_reads_inside_files_and_allows_everything_locally(tree: Path) -> None:
    spec = load(tree, prompts=["file://prompts/*.txt"],
                tests=[{"vars": {"q": "file://ok.txt"}},
                       {"assert": [{"type": "equals", "value": "file://ok.txt"}]}])  # fmt: skip
    assert [p.text for p in spec.prompts] == ["A {{q}}", "B {{q}}"]
    assert [p.label for p in spec.prompts] == ["prompts/a.txt: A {{q}}", "prompts/b.txt: B {{q}}"]
    assert spec.tests[0].vars == {"q": "ok"}
    local = load(tree, LOCAL, prompts=["file://link.txt"], tests="../outside/t.csv",
                 defaultTest={"options": {"rubricPrompt": "file://../secret.txt"}})  # fmt: skip
    assert local.prompts[0].text == CANARY and local.prompts[0].label.startswith("link.txt: ")
    assert local.tests[0].vars == {"q": CANARY}


def test_assertion_value_files_go_through_the_resolver(tree: Path) -> None:
    (tree / "v.json").write_text('{"a": 1}')
    assert load_file_value("file://v.json", str(tree), trust=STRICT) == {"a": 1}
    assert load_file_value("file://../secret.txt", str(tree)) == CANARY  # local: anywhere
    for ref in ("file://../secret.txt", "file://ok.txt:../../../secret.txt", "file://link.txt"):
        with pytest.raises(ConfigError, match="outside") as info:
            load_file_value(ref, str(tree), trust=STRICT)
        assert CANARY not in str(info.value) and str(tree) not in str(info.value)
    with pytest.raises(ConfigError, match=r"file://nope\.txt") as info:
        load_file_value("file://nope.txt", str(tree), trust=STRICT)
    assert str(tree) not in str(info.value)
    (tree / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match=r"bad\.json") as info:
        load_file_value("file://bad.json", str(tree))
    assert str(tree) not in str(info.value)
