"""promptfoo loading features a switching user's config carries (docs/config.md)."""

from __future__ import annotations

import base64
import re

import pytest
from tests.unit.project.conftest import WriteFile

from promptyard.errors import ConfigError
from promptyard.library import load_spec


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
