"""promptfoo loading features a switching user's config carries (docs/config.md)."""

from __future__ import annotations

import base64

from tests.unit.project.conftest import WriteFile

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
