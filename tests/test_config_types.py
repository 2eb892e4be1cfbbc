"""A setting of the wrong type is a clear ``ConfigError`` naming it, when the configuration is
loaded, not a traceback deep inside the optimiser later (``resample_k = "x"`` used to crash
``dise optimize`` in the middle of planning)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dise.config import load_config
from dise.config import ConfigError

SERVER = Path(__file__).resolve().parents[1] / "server"


@pytest.mark.parametrize("section, key, value, kind", [
    ("optimize", "resample_k", "x", "a whole number"),
    ("optimize", "resample_k", 2.5, "a whole number"),
    ("optimize", "when_idle", 1, "true or false"),
    ("optimize", "temperatures", 0.7, "a list"),
    ("optimize", "node_time_limit_s", "soon", "a number"),
    ("pipeline", "default_generator", 3, "a string"),
])
def test_a_setting_of_the_wrong_type_is_named(section, key, value, kind):
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be {kind}"):
        load_config({section: {key: value}})


def test_a_whole_number_where_a_number_is_expected_is_fine():
    cfg = load_config({"optimize": {"node_time_limit_s": 60, "resample_k": 3}})
    assert cfg.optimize.node_time_limit_s == 60.0
    assert isinstance(cfg.optimize.node_time_limit_s, float) and cfg.optimize.resample_k == 3


def test_dise_optimize_says_which_setting_is_wrong(tmp_path):
    (tmp_path / "dise.toml").write_text('[optimize]\nresample_k = "x"\n')
    env = {**os.environ, "DISE_HOME": str(tmp_path), "PYTHONPATH": str(SERVER)}
    run = subprocess.run([sys.executable, "-m", "dise.cli", "optimize", "all"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "optimize.resample_k must be a whole number" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_a_wrong_setting_in_dise_toml_names_the_file(tmp_path):
    (tmp_path / "dise.toml").write_text('[pipeline]\nbest_of_k_when = "sometimes"\n')
    with pytest.raises(ConfigError, match="best_of_k_when must be learned, always or never") \
            as raised:
        load_config(env={"DISE_HOME": str(tmp_path)})
    assert str(tmp_path / "dise.toml") in str(raised.value)
    (tmp_path / "dise.toml").write_text('[pipeline]\nbest_of_k = "three"\n')
    with pytest.raises(ConfigError, match="best_of_k must be a whole number") as raised:
        load_config(env={"DISE_HOME": str(tmp_path)})
    assert str(raised.value).startswith(str(tmp_path / "dise.toml"))
    (tmp_path / "dise.toml").write_text('[pipeline]\nbest_of_k = -2\n')
    with pytest.raises(ConfigError, match="best_of_k must be 0 .no extra samples. or more"):
        load_config(env={"DISE_HOME": str(tmp_path)})
    (tmp_path / "dise.toml").write_text('[pipeline]\nbest_of_k_when = "Always"\n')
    assert load_config(env={"DISE_HOME": str(tmp_path)}).pipeline.best_of_k_when == "always"
