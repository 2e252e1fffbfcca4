"""promptfoo loading features a switching user's config carries (docs/config.md)."""

from __future__ import annotations

import base64
import re

import pytest
from tests.unit.project.conftest import WriteFile

from promptyard.errors import ConfigError
from promptyard.library import load_spec
from promptyard.trust import TrustPolicy


def test_image_vars_are_data_urls_as_promptfoo_sends_them(write: WriteFile) -> None:
    (write("pic.jpg", "")).write_bytes(b"\xff\xd8\xff")
    (write("clip.mp3", "")).write_bytes(b"ID3")
    path = write(
        "promptfooconfig.yaml",
        """
        prompts: ["{{ image }} {{ clip }}"]
        providers: [echo]
        tests:
          - vars: {image: file://pic.jpg, clip: file://clip.mp3}
        """,
    )
    (case,) = load_spec(path).tests
    assert (
        case.vars["image"] == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff").decode()
    )
    assert case.vars["clip"] == base64.b64encode(b"ID3").decode()  # audio: bare, as promptfoo


JS_CONFIG = """
module.exports = {
  prompts: ['Say {{ word }}'],
  providers: ['echo'],
  tests: [{vars: {word: 'hi'}, assert: [{type: 'contains', value: 'hi'}]}],
};
"""


def test_a_js_config_of_plain_data_loads_from_the_sandbox(write: WriteFile) -> None:
    spec = load_spec(write("promptfooconfig.js", JS_CONFIG))
    assert [t.vars for t in spec.tests] == [{"word": "hi"}]
    assert spec.errored_tests and spec.config_path and spec.config_path.endswith(".js")


def test_a_directory_with_only_a_js_config_finds_it(write: WriteFile) -> None:
    path = write("promptfooconfig.js", JS_CONFIG)
    assert load_spec(path.parent).prompts[0].text == "Say {{ word }}"


def test_a_ts_config_with_type_annotations_loads(write: WriteFile) -> None:
    path = write(
        "promptfooconfig.ts",
        """
        import type { UnifiedConfig } from 'promptfoo';

        const config: UnifiedConfig = {
          prompts: ['Say {{ word }}'],
          providers: ['echo'],
          tests: [{vars: {word: 'hi'}}],
        };

        export default config;
        """,
    )
    assert [t.vars for t in load_spec(path).tests] == [{"word": "hi"}]


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("const fs = require('fs');\nmodule.exports = {};", 'require("fs") is not available'),
        (
            "module.exports = {prompts: ['x'], providers: [{id: 'echo', config: {f: () => 1}}]};",
            "a JavaScript function at providers[0].config.f",
        ),
        ("module.exports = {\n  prompts: [nope],\n};", "nope is not defined (line 2)"),
        ("module.exports = 'text';", "must export an object"),
        ("import x from 'y';\nexport default x;", "ES module imports"),
    ],
)
def test_js_configs_that_are_not_plain_data_are_refused_naming_why(
    write: WriteFile, source: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_spec(write("promptfooconfig.js", source))


GENERATOR = """
def generate_tests(config=None):
    words = (config or {}).get("words", ["cats"])
    return [{"vars": {"word": w}, "assert": [{"type": "contains", "value": w}]} for w in words]
"""


def test_python_test_generators_run_with_their_config(write: WriteFile) -> None:
    write("gen.py", GENERATOR)
    path = write(
        "promptfooconfig.yaml",
        """
        prompts: ["Say {{ word }}"]
        providers: [echo]
        tests:
          - file://gen.py
          - path: file://gen.py:generate_tests
            config: {words: [owls, bats]}
        """,
    )
    tests = load_spec(path).tests
    assert [t.vars["word"] for t in tests] == ["cats", "owls", "bats"]
    assert tests[1].where == "gen.py:generate_tests: [0]"


def test_python_test_generators_obey_the_trust_policy(write: WriteFile) -> None:
    write("gen.py", GENERATOR)
    path = write(
        "promptfooconfig.yaml",
        'prompts: ["Say {{ word }}"]\nproviders: [echo]\ntests: file://gen.py:generate_tests\n',
    )
    with pytest.raises(ConfigError, match="Python test generators run code"):
        load_spec(path, trust=TrustPolicy(allow_python=False))


def test_a_failing_generator_is_named(write: WriteFile) -> None:
    write("gen.py", "def generate_tests():\n    raise ValueError('no data')\n")
    path = write("promptfooconfig.yaml", "prompts: [x]\nproviders: [echo]\ntests: file://gen.py\n")
    with pytest.raises(ConfigError, match=r"gen.py:generate_tests failed: ValueError: no data"):
        load_spec(path)


def test_vars_given_as_a_file_glob_are_merged_as_promptfoo_does(write: WriteFile) -> None:
    write("vars/a.yaml", "topic: cats\ntone: calm\n")
    write("vars/b.yaml", "tone: loud\n")
    write("tests/t.yaml", "- vars: ../vars/*.yaml\n")
    path = write(
        "promptfooconfig.yaml",
        """
        prompts: ["{{ topic }} {{ tone }}"]
        providers: [echo]
        tests:
          - vars: [file://vars/a.yaml]
          - file://tests/t.yaml
        """,
    )
    tests = load_spec(path).tests
    assert [t.vars for t in tests] == [
        {"topic": "cats", "tone": "calm"},
        {"topic": "cats", "tone": "loud"},  # relative to the test file; later files win
    ]


PROMPT_PY = """
def ask(context):
    return "Tell " + context["provider"]["id"] + " about " + context["vars"]["topic"]


def chat(context):
    return [{"role": "system", "content": "Be terse."},
            {"role": "user", "content": context["vars"]["topic"]}]


class Prompt:
    @staticmethod
    def json_text(context):
        return '[{"role": "user", "content": "json ' + context["vars"]["topic"] + '"}]'


def broken(context):
    return 42
"""


def test_python_prompt_functions_build_each_trials_prompt(write: WriteFile) -> None:
    write("prompt.py", PROMPT_PY)
    path = write(
        "promptfooconfig.yaml",
        """
        prompts:
          - file://prompt.py:ask
          - id: file://prompt.py:chat
            label: Chat
          - file://prompt.py:Prompt.json_text
          - prompt.py:broken
        providers: [echo]
        tests: [{vars: {topic: cats}}]
        """,
    )
    spec = load_spec(path)
    ask, chat, json_text, broken = spec.prompts
    (test,) = spec.tests
    assert [p.label for p in spec.prompts][::2] == ["prompt.py:ask", "prompt.py:Prompt.json_text"]
    assert chat.label == "Chat"
    assert ask.function(test, "echo", None) == (
        "Tell echo about cats",
        [{"role": "user", "content": "Tell echo about cats"}],
    )
    assert chat.function(test, "echo", None)[1][0] == {"role": "system", "content": "Be terse."}
    assert json_text.function(test, "echo", None)[1] == [{"role": "user", "content": "json cats"}]
    with pytest.raises(ConfigError, match="must return text or a list of chat messages"):
        broken.function(test, "echo", None)


def test_python_prompt_functions_obey_the_trust_policy(write: WriteFile) -> None:
    write("prompt.py", PROMPT_PY)
    path = write("promptfooconfig.yaml", "prompts: [file://prompt.py:ask]\nproviders: [echo]\n")
    with pytest.raises(ConfigError, match="Python prompt functions run code"):
        load_spec(path, trust=TrustPolicy(allow_python=False))


def test_js_prompt_functions_are_refused_naming_them(write: WriteFile) -> None:
    write("prompt.js", "module.exports = () => 'x';\n")
    path = write("promptfooconfig.yaml", "prompts: [file://prompt.js]\nproviders: [echo]\n")
    with pytest.raises(ConfigError, match="JavaScript prompt functions are not supported yet"):
        load_spec(path)


def test_remote_datasets_are_refused_naming_why(write: WriteFile) -> None:
    path = write(
        "promptfooconfig.yaml",
        "prompts: [x]\nproviders: [echo]\ntests: [huggingface://datasets/x/y]\n",
    )
    with pytest.raises(ConfigError, match="remote datasets"):
        load_spec(path)


def test_a_prompt_object_without_raw_reads_its_id_as_promptfoo_does(write: WriteFile) -> None:
    path = write(
        "promptfooconfig.yaml",
        "prompts:\n  - id: 'Tell me about {{topic}}'\n    label: text\nproviders: [echo]\n",
    )
    (prompt,) = load_spec(path).prompts
    assert (prompt.label, prompt.text) == ("text", "Tell me about {{topic}}")


def test_derived_metrics_load_and_are_checked_before_any_call(write: WriteFile) -> None:
    base = "prompts: [x]\nproviders: [echo]\nderivedMetrics:\n  - name: f1\n    value: "
    spec = load_spec(write("promptfooconfig.yaml", base + "'2 * p * r / (p + r)'\n"))
    assert spec.raw_config["derivedMetrics"][0]["name"] == "f1"
    with pytest.raises(ConfigError, match=r"derivedMetrics\[0\]"):
        load_spec(write("promptfooconfig.yaml", base + "\"__import__('os')\"\n"))
