"""The `dise` command as a user runs it: a real process, real store, real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVER = str(Path(__file__).resolve().parents[1] / "server")
SEED_FIELDS = {"node_id", "task_type", "generator_used", "generation_time", "test_passed",
               "quality_score", "latency", "coverage", "fitness_score", "tool_usage", "phase",
               "timestamp", "prompt", "code", "tests", "parent"}


def dise(*args: str, home: Path, stdin: str | None = None, env: dict | None = None,
         timeout: float = 900) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DISE_HOME": str(home), "PYTHONPATH": SERVER,
                "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dise.cli", *args], input=stdin,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), proc.stderr
    return " ".join(lines)


def test_help_lists_the_commands(tmp_path):
    proc = dise("--help", home=tmp_path)
    assert proc.returncode == 0
    for command in ("generate", "status", "list", "models", "shell", "serve"):
        assert command in proc.stdout


@pytest.mark.parametrize("request_text", ["", "!!!"])
def test_empty_request_says_what_to_do(tmp_path, request_text):
    assert "describe" in one_line_error(dise("generate", request_text, home=tmp_path))


def test_missing_model_says_how_to_pull_it(tmp_path):
    proc = dise("generate", "reverse a string", "--backend", "llamacpp", home=tmp_path,
                env={"DISE_MODELS_DIR": str(tmp_path / "no-models")})
    assert "dise models pull qwen2.5-coder-0.5b" in one_line_error(proc)


def test_unknown_node_and_empty_list(tmp_path):
    assert "dise list" in one_line_error(dise("status", "nope", home=tmp_path))
    proc = dise("list", home=tmp_path)
    assert proc.returncode == 0 and "No functions stored yet" in proc.stdout


def test_damaged_store_is_kept_and_reported(tmp_path):
    store = tmp_path / "store.json"
    store.write_text('{"artifacts": {"1": {"node_id": "x"')  # truncated by hand
    message = one_line_error(dise("list", home=tmp_path))
    assert "store.json" in message
    assert store.read_text().startswith('{"artifacts"')  # untouched
    assert list(tmp_path.glob("store.json.corrupt-*"))  # and a copy kept


def test_models_lists_the_catalogue(tmp_path, models_dir):
    proc = dise("models", home=tmp_path, env={"DISE_MODELS_DIR": str(models_dir)})
    assert proc.returncode == 0
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        assert name in proc.stdout
    assert "dise models pull qwen2.5-coder-1.5b" in proc.stdout.replace("\n", " ") or \
        "qwen2.5-coder-1.5b" in proc.stdout


def test_shell_help_status_and_quit(tmp_path):
    proc = dise("shell", home=tmp_path, stdin="/help\n/status nothing_here\n/frobnicate\n/quit\n")
    assert proc.returncode == 0
    assert "DiSE>" in proc.stdout and "/status <node>" in proc.stdout
    assert "No stored function 'nothing_here'" in proc.stderr
    assert "Unknown command /frobnicate" in proc.stderr


@pytest.mark.model
def test_generate_status_list_with_the_real_model(tmp_path, models_dir):
    env = {"DISE_MODELS_DIR": str(models_dir)}
    proc = dise("generate", "Quickly write a function to validate email addresses", "--json",
                home=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    artifact = json.loads(proc.stdout)
    assert SEED_FIELDS <= artifact.keys()
    assert artifact["phase"] == "phase1" and artifact["task_type"] == "validation"
    node = artifact["node_id"]

    proc = dise("status", node, home=tmp_path, env=env)
    assert proc.returncode == 0 and "fitness" in proc.stdout and f"{node}_v1" in proc.stdout
    # judged only by model tests, it is queued: the position is said once, with its reason
    assert proc.stdout.count("position 1") == 1 and "queue: position 1 of 1" in proc.stdout
    proc = dise("list", home=tmp_path, env=env)
    assert proc.returncode == 0 and node in proc.stdout


@pytest.mark.model
def test_generate_fills_a_stub_in_a_file(tmp_path, models_dir):
    source = tmp_path / "shapes.py"
    source.write_text('"""Shapes."""\n\n\ndef rectangle_area(width: float, height: float) -> float:\n'
                      '    """Area of a rectangle.\n\n    >>> rectangle_area(2, 3)\n    6\n    """\n'
                      '    ...\n\n\ndef other():\n    return 1\n')
    proc = dise("generate", "--file", str(source), "--function", "rectangle_area",
                home=tmp_path, env={"DISE_MODELS_DIR": str(models_dir)})
    assert proc.returncode == 0, proc.stderr
    text = source.read_text()
    assert "def rectangle_area(width: float, height: float) -> float:" in text
    assert ">>> rectangle_area(2, 3)" in text and "def other():" in text
    # the box shows the function as written (the user's signature), and the request's time
    assert "def rectangle_area(width: float, height: float) -> float:" in proc.stdout
    assert "s generating ·" in proc.stdout and "s in all" in proc.stdout
    namespace: dict = {}
    exec(compile(text, str(source), "exec"), namespace)
    assert namespace["rectangle_area"](2, 3) == 6


def test_search_on_an_empty_store(tmp_path):
    proc = dise("search", "validate an email", home=tmp_path)
    assert proc.returncode == 0 and "Nothing stored yet" in proc.stdout


def test_dotted_generator_name_in_dise_toml_says_to_quote_it(tmp_path):
    (tmp_path / "dise.toml").write_text("[generators.qwen-0.5b]\nmax_tokens = 192\n")
    error = one_line_error(dise("list", home=tmp_path))
    assert "Bad generator 'qwen-0'" in error and '[generators."qwen-0.5b"]' in error


def test_narrow_terminal_keeps_the_names_users_type(tmp_path):
    """At 80 columns `dise list` and `dise models` show whole node ids and model names (what
    `dise status`/`dise models pull` take); a function is one line of `dise list`, its request
    cut to what fits (a request used to wrap a word a line, ten lines a row)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from support.store_data import make_artifact

    from dise.store.artifacts import Store

    store = Store(tmp_path / "store.json")
    store.save(make_artifact("is_valid_email_address", prompt="Check an address.\n\n"
                             "is_valid_email_address('a@b.co') => True"))
    store.close()
    listed = dise("list", home=tmp_path, env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    # one line a function: its whole node id, version, fitness, tests and the request's start
    row = next(ln for ln in listed.stdout.splitlines() if "is_valid_email_address" in ln)
    assert "v1" in row and "Check" in row and "=> True" not in listed.stdout
    assert max(len(ln) for ln in listed.stdout.splitlines()) <= 80
    models = dise("models", home=tmp_path, env={"COLUMNS": "80",
                                                "DISE_MODELS_DIR": str(tmp_path / "m")})
    assert models.returncode == 0, models.stderr
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        assert name in models.stdout


def test_written_function_is_the_users_signature_with_the_new_body():
    """What ``dise generate --file`` shows: the function as the file now holds it (the
    model's ``List[int]`` header replaced by the user's ``list[int]``), found near its line
    when another function has the same name."""
    from dise.cli.generate import written_function

    source = ("import os\n\n\nclass A:\n    def total(self):\n        return 0\n\n\n"
              "@cache\ndef total(xs: list[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
              "    return sum(xs)\n")
    shown = written_function(source, "total", 9)
    assert shown == ("@cache\ndef total(xs: list[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
                     "    return sum(xs)\n")
    assert written_function(source, "total", 4) == "def total(self):\n    return 0\n"
    assert written_function("def broken(:\n", "broken", 0) is None
    assert written_function(source, "missing", 0) is None
