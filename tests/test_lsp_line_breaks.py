"""One line splitter: a form feed or another Unicode line break in the file moves nothing.

Issue 14, bug 2: lenses and diagnostics split with ``str.splitlines`` (which also breaks at
\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028, \\u2029) while editors, hover and actions count only
\\n, \\r\\n and \\r, so everything below such a character was shown a line too low.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dise.engine.types import Artifact
from dise.lsp.documents import all_regions, lsp_lines, region_hash, split_lines
from dise.lsp.index import Known
from dise.lsp.offers import diagnostics_for
from dise.text import lsp_lines as lines
from support.lsp_harness import Editor, server_env, stub_file

#: Every character ``str.splitlines`` breaks at that LSP does not.
NOT_LSP_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("char", list(NOT_LSP_BREAKS))
def test_only_lf_crlf_and_cr_end_a_line(char: str) -> None:
    source = f"a{char}b\r\nc\rd\ne"
    assert lines(source) == [f"a{char}b\r\n", "c\r", "d\n", "e"]
    assert split_lines(source) == lsp_lines(source) == lines(source)
    assert "".join(lines(source)) == source and lines("") == []


def version(number: int, fitness: float) -> Artifact:
    return Artifact(
        node_id="add_one", version=number, function_name="add_one", code="", prompt="",
        task_type="other", intent="interactive", generator_used="g", model="m", backend="b",
        temperature=0.3, generation_time=0.1, test_passed=True, tests_passed=1, tests_total=1,
        test_kinds={}, quality_score=1.0, latency=1e-6, coverage=1.0, fitness_score=fitness,
        tool_usage=[], phase="phase1", timestamp=time.time(), tests=[])


@pytest.mark.parametrize("char", list(NOT_LSP_BREAKS))
def test_a_diagnostic_stays_on_its_def_below_a_unicode_break(char: str) -> None:
    source = f"# section one\n{char}\n\ndef add_one(x):\n    return x + 1\n"
    def_line = 3                               # as an editor counts: \n only
    [region] = all_regions(lsp_lines(source))
    known = Known(node_id="add_one", name="add_one",
                  content_hash=region_hash(lsp_lines(source), region),
                  artifact=version(2, 0.9), current=version(1, 0.5))
    [diagnostic] = diagnostics_for(source, [known])
    assert diagnostic.range.start.line == def_line


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_lenses_stay_on_their_function_below_a_form_feed(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    ed = Editor("visual-studio-code", tmp_path / "ws",
                server_env(DISE_HOME=str(tmp_path / "home")))
    await ed.start()
    try:
        text = stub_file().replace("import os\n", "import os\n\x0c\n")   # PEP 8's page break
        uri = ed.open("paged.py", text)
        stub_line = next(i for i, t in enumerate(text.split("\n")) if "def is_valid_email" in t)
        [action] = [a for a in await ed.actions(uri, stub_line) if "is_valid_email" in a.title]
        assert (await ed.run_action(action))["applied"]
        new = ed.text(uri)
        def_line = next(i for i, t in enumerate(new.split("\n")) if "def is_valid_email" in t)
        assert "is_valid_email" in await ed.hover_text(uri, def_line)
        lens_lines = [lens.range.start.line for lens in await ed.code_lenses(uri)
                      if lens.command and lens.command.title.startswith("DiSE: fitness")]
        assert lens_lines == [def_line]
    finally:
        await ed.stop()
