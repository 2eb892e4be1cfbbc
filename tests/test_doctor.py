"""``dise doctor``: one line per part of the setup, ok/warn/fail with a hint."""

from __future__ import annotations

import os
import subprocess
import sys

from dise.config import Config
from dise.doctor import run_checks
from dise.sandbox import isolation


def by_name(cfg: Config) -> dict:
    return {c.name: c for c in run_checks(cfg)}


def test_an_empty_setup_fails_on_models_and_says_how_to_pull(tmp_path):
    cfg = Config(home=tmp_path / "home", models_dir=tmp_path / "models")
    checks = by_name(cfg)
    assert list(checks) == ["sandbox", "models", "ollama", "openai", "embedding", "store",
                            "editors"]
    assert checks["models"].status == "fail"
    assert "dise models pull" in checks["models"].hint
    assert checks["store"].status == "ok"


def test_the_sandbox_line_names_the_level_this_machine_gives():
    check = by_name(Config())["sandbox"]
    level = isolation.detect("auto")
    assert check.detail.startswith(level)
    assert check.status == ("ok" if level == "bubblewrap" else "warn")


def test_a_corrupt_store_is_a_failure_with_a_hint(tmp_path):
    cfg = Config(home=tmp_path, models_dir=tmp_path / "models")
    cfg.store_path.write_text("{not json")
    check = by_name(cfg)["store"]
    assert check.status == "fail" and "cannot be read" in check.detail and check.hint


def test_a_truncated_model_file_is_reported_corrupt(tmp_path):
    from dise.llm import catalog

    entry = min(catalog.CATALOG.values(), key=lambda e: e.size)  # a sparse file: cheap
    models = tmp_path / "models"
    models.mkdir()
    with open(models / entry.file_name, "wb") as fh:  # right size, wrong bytes
        fh.truncate(entry.size)
    check = by_name(Config(home=tmp_path, models_dir=models))["models"]
    assert check.status == "fail" and "sha256" in check.detail


def test_cli_prints_one_line_per_check_and_exits_1_on_failure(tmp_path):
    env = dict(os.environ, DISE_HOME=str(tmp_path), DISE_MODELS_DIR=str(tmp_path / "m"),
               COLUMNS="80")
    done = subprocess.run([sys.executable, "-c", "from dise.cli import main; "
                           "raise SystemExit(main(['doctor']))"],
                          env=env, capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 7, done.stdout
    assert all(line.startswith(("[ok", "[warn", "[fail")) for line in lines)
