"""`dise generate --file` keeps the file as the user has it (issue 12 §1).

The model is scripted: the real `dise` process talks to a stand-in Ollama server through the
official client (``FakeOllama(scripted=...)``), or, for the in-process cases, the engine gets a
``ScriptedBackend``. Everything else is real: engine, sandbox, store, splice and the write.
"""

from __future__ import annotations

import difflib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.fake_ollama import FakeOllama
from support.scripted_backend import ScriptedBackend

from dise import cli
from dise.engine.core import Engine
from dise.engine.sourcefile import SourceFileError, read_source, write_source

SERVER = str(Path(__file__).resolve().parents[1] / "server")
TAG = "qwen2.5-coder:0.5b"   # the default generator's Ollama model

STUB = ('"""Shapes."""\n'
        "\n"
        "\n"
        "def rectangle_area(width: float, height: float) -> float:\n"
        '    """Area of a rectangle.\n'
        "\n"
        "    >>> rectangle_area(2, 3)\n"
        "    6\n"
        '    """\n'
        "    ...\n"
        "\n"
        "\n"
        "def other():\n"
        "    return 1\n")
#: The stub's placeholder line (0-based), the only line of STUB the splice may replace.
PLACEHOLDER = 9
ANSWER = ("```python\nimport math\n\n\ndef rectangle_area(width, height):\n"
          "    return math.prod([width, height])\n```")


def dise_process(*args: str, home: Path, host: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DISE_HOME": str(home), "PYTHONPATH": SERVER, "COLUMNS": "120",
           "OLLAMA_HOST": host}
    return subprocess.run([sys.executable, "-m", "dise.cli", "--backend", "ollama", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def generate_in_process(path: Path, monkeypatch, answer: str = ANSWER,
                        backend: ScriptedBackend | None = None) -> int:
    backend = backend or ScriptedBackend(answer)
    return cli.main(["generate", "--file", str(path), "--function", "rectangle_area", "--json"],
                    engine_factory=lambda cfg: Engine(cfg, backend_factory=lambda g, c: backend))


def changed_lines(before: bytes, after: bytes) -> tuple[set[int], list[bytes]]:
    """Lines of ``before`` (0-based) that were replaced or deleted, and the inserted lines."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    touched: set[int] = set()
    inserted: list[bytes] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            touched.update(range(i1, i2))
            inserted += new[j1:j2]
    return touched, inserted


def assert_only_stub_and_imports_changed(before: bytes, after: bytes, newline: bytes) -> None:
    touched, inserted = changed_lines(before, after)
    assert touched <= {PLACEHOLDER}, touched
    texts = [line.rstrip(b"\r\n") for line in inserted]
    assert b"import math" in texts and any(b"math.prod" in t for t in texts)
    for line in inserted:
        assert line.endswith(newline) and not line[:-len(newline)].endswith(b"\r"), line


# --- the examples, through the real process and the real Ollama client ----------------

@pytest.fixture
def scripted_ollama():
    with FakeOllama({}, scripted={TAG: [ANSWER]}) as server:
        yield server


def test_crlf_module_comes_back_crlf(tmp_path, scripted_ollama):
    path = tmp_path / "shapes.py"
    before = STUB.replace("\n", "\r\n").encode()
    path.write_bytes(before)
    proc = dise_process("generate", "--file", str(path), "--function", "rectangle_area",
                        home=tmp_path, host=scripted_ollama.host)
    assert proc.returncode == 0, proc.stderr
    after = path.read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b"")          # every line still CRLF
    assert_only_stub_and_imports_changed(before, after, b"\r\n")
    namespace: dict = {}
    exec(compile(after.decode(), str(path), "exec"), namespace)
    assert namespace["rectangle_area"](2, 3) == 6


def test_utf8_bom_module_finds_its_stub_and_keeps_the_bom(tmp_path, scripted_ollama):
    path = tmp_path / "shapes.py"
    before = b"\xef\xbb\xbf" + STUB.encode()
    path.write_bytes(before)
    proc = dise_process("generate", "--file", str(path), "--function", "rectangle_area",
                        home=tmp_path, host=scripted_ollama.host)
    assert proc.returncode == 0, proc.stderr
    after = path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf") and not after.startswith(b"\xef\xbb\xbf" * 2)
    assert_only_stub_and_imports_changed(before, after, b"\n")


# --- the rest of the kind, in process ----------------------------------------------------------

@pytest.mark.parametrize("newline", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_every_line_ending_is_kept(tmp_path, monkeypatch, newline):
    path = tmp_path / "shapes.py"
    before = STUB.encode().replace(b"\n", newline)
    path.write_bytes(before)
    assert generate_in_process(path, monkeypatch) == 0
    after = path.read_bytes()
    assert_only_stub_and_imports_changed(before, after, newline)


def test_mixed_line_endings_keep_each_line_its_own(tmp_path, monkeypatch):
    lines = STUB.encode().splitlines(keepends=True)
    # the module's head is CRLF, the function and the rest LF
    before = b"".join(line.replace(b"\n", b"\r\n") if i < 3 else line
                      for i, line in enumerate(lines))
    path = tmp_path / "shapes.py"
    path.write_bytes(before)
    assert generate_in_process(path, monkeypatch) == 0
    after = path.read_bytes()
    touched, inserted = changed_lines(before, after)
    assert touched <= {PLACEHOLDER}
    body = [line for line in inserted if b"math.prod" in line]
    assert body and body[0].endswith(b"\n") and not body[0].endswith(b"\r\n")
    imports = [line for line in inserted if line.startswith(b"import math")]
    assert imports and imports[0].endswith(b"\r\n")   # next to the CRLF docstring


def test_pep263_coding_line_is_read_and_written_in_its_encoding(tmp_path, monkeypatch):
    text = "# -*- coding: latin-1 -*-\n" + STUB.replace("Area of a rectangle.",
                                                        "Fläche eines Rechtecks (m²).")
    before = text.encode("latin-1")
    path = tmp_path / "shapes.py"
    path.write_bytes(before)
    assert generate_in_process(path, monkeypatch) == 0
    after = path.read_bytes()
    assert "Fläche eines Rechtecks (m²).".encode("latin-1") in after
    after.decode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        after.decode("utf-8")            # still latin-1, not re-encoded
    touched, _ = changed_lines(before, after)
    assert touched <= {PLACEHOLDER + 1}


def test_code_the_declared_encoding_cannot_hold_is_refused_and_nothing_written(
        tmp_path, monkeypatch, capsys):
    text = "# -*- coding: latin-1 -*-\n" + STUB
    path = tmp_path / "shapes.py"
    path.write_bytes(text.encode("latin-1"))
    answer = ANSWER.replace("return math.prod([width, height])",
                            "arrow = '→'\n    return math.prod([width, height]) + len(arrow) - 1")
    assert generate_in_process(path, monkeypatch, answer) == 1
    assert path.read_bytes() == text.encode("latin-1")
    err = capsys.readouterr().err
    assert "shapes.py" in err and "iso-8859-1" in " ".join(err.split())


@pytest.mark.parametrize("content, why", [
    (b"def f():\n    '''caf\xe9'''\n    ...\n", "not valid UTF-8"),
    (b"# -*- coding: klingon -*-\ndef f():\n    ...\n", "klingon"),
], ids=["invalid-utf8", "unknown-codec"])
def test_undecodable_file_is_a_one_line_error_naming_it(tmp_path, content, why):
    path = tmp_path / "broken.py"
    path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "dise.cli", "generate", "--file", str(path), "--function", "f"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DISE_HOME": str(tmp_path), "PYTHONPATH": SERVER, "COLUMNS": "400"})
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "broken.py" in lines[0] and why in lines[0] and "Traceback" not in proc.stderr
    assert path.read_bytes() == content


def test_permissions_and_owner_are_kept(tmp_path, monkeypatch):
    path = tmp_path / "shapes.py"
    path.write_text(STUB)
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 4321, 4322)
    assert generate_in_process(path, monkeypatch) == 0
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (4321, 4322)
    assert "math.prod" in path.read_text()
    assert not [p for p in tmp_path.iterdir() if "dise-tmp" in p.name]


def test_a_symlink_stays_a_link_and_its_target_gets_the_function(tmp_path, monkeypatch):
    real = tmp_path / "real" / "shapes.py"
    real.parent.mkdir()
    real.write_text(STUB)
    link = tmp_path / "shapes.py"
    link.symlink_to(real)
    assert generate_in_process(link, monkeypatch) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "math.prod" in real.read_text()


def test_hard_links_keep_sharing_the_file(tmp_path, monkeypatch):
    path = tmp_path / "shapes.py"
    path.write_text(STUB)
    twin = tmp_path / "twin.py"
    os.link(path, twin)
    assert generate_in_process(path, monkeypatch) == 0
    assert "math.prod" in twin.read_text() and path.stat().st_ino == twin.stat().st_ino


def test_read_only_file_is_refused(tmp_path, monkeypatch, capsys):
    path = tmp_path / "shapes.py"
    path.write_text(STUB)
    os.chmod(path, 0o444)   # refused even for root, which the kernel would let write
    assert generate_in_process(path, monkeypatch) == 1
    assert path.read_text() == STUB and "read-only" in capsys.readouterr().err


class EditsWhileGenerating(ScriptedBackend):
    """The user saves the file while the model is answering."""

    def __init__(self, path: Path, answer: str) -> None:
        super().__init__(answer)
        self.path = path

    def generate(self, messages, **kwargs):
        self.path.write_text(self.path.read_text() + "\n\ndef added_meanwhile():\n    pass\n")
        return super().generate(messages, **kwargs)


def test_file_changed_on_disk_while_generating_is_not_written(tmp_path, monkeypatch, capsys):
    path = tmp_path / "shapes.py"
    path.write_text(STUB)
    code = generate_in_process(path, monkeypatch, backend=EditsWhileGenerating(path, ANSWER))
    assert code == 1
    text = path.read_text()
    assert "added_meanwhile" in text and "math.prod" not in text
    err = " ".join(capsys.readouterr().err.split())
    assert "changed on disk while generating" in err and "rectangle_area_v1" in err


def test_write_source_refuses_a_changed_file_and_writes_atomically(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"x = 1\r\n")
    source = read_source(path)
    assert source.text == "x = 1\r\n" and source.encoding == "utf-8"
    write_source(source, "x = 2\r\n")
    assert path.read_bytes() == b"x = 2\r\n"
    path.write_bytes(b"x = 3\r\n")
    with pytest.raises(SourceFileError, match="changed on disk"):
        write_source(source, "x = 4\r\n")
    assert path.read_bytes() == b"x = 3\r\n"


TWO_STUBS = ('def double(n: int) -> int:\n'
             '    """Twice n.\n\n    >>> double(2)\n    4\n    """\n'
             '    ...\n'
             '\n\n'
             'def triple(n: int) -> int:\n'
             '    """Three times n.\n\n    >>> triple(2)\n    6\n    """\n'
             '    pass\n')


def test_file_without_function_fills_every_stub_in_order(tmp_path, monkeypatch, capsys):
    """`dise generate --file F` with no --function fills each stub, re-reading the file after
    each write; a request text with several stubs is refused before any model runs."""
    path = tmp_path / "numbers.py"
    path.write_text(TWO_STUBS)
    backend = ScriptedBackend("```python\ndef double(n):\n    return 2 * n\n```",
                              "```python\ndef triple(n):\n    return 3 * n\n```")
    code = cli.main(["generate", "--file", str(path), "--json"],
                    engine_factory=lambda cfg: Engine(cfg, backend_factory=lambda g, c: backend))
    assert code == 0
    import json
    made = json.loads(capsys.readouterr().out)
    assert [a["function_name"] for a in made] == ["double", "triple"]
    assert all(a["test_passed"] for a in made)
    text = path.read_text()
    assert "return 2 * n" in text and "return 3 * n" in text and "...\n" not in text

    path.write_text(TWO_STUBS)
    code = cli.main(["generate", "Make it fast", "--file", str(path)],
                    engine_factory=lambda cfg: pytest.fail("no engine for a refused request"))
    said = " ".join(capsys.readouterr().err.split())
    assert code != 0 and "holds 2 stubs (double, triple): name the one your request" in said
    assert path.read_text() == TWO_STUBS
