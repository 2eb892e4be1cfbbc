"""`dise optimize`, `/optimize` and the Phase 2 lines of `dise status`, with a test-double model."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from dise.cli.optimize import add_parser as add_optimize_parser
from dise.cli.optimize import run as run_optimize
from dise.cli.optimize import shell_optimize
from dise.cli.status import describe_next_run, status_lines
from dise.config import load_config
from dise.engine.core import Engine
from dise.engine.types import DiseError, Request
from dise.optimize.state import record_activity
from support.optimize_worker import ASSERTS, GOOD, REQUEST, VariantBackend
from support.scripted_backend import BackendSlot

SETTINGS = {"optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.3],
                         "approaches": ["plain"], "seeds": [0], "incremental_max_steps": 0,
                         "differential_model_inputs": 0,
                         "poll_interval_s": 0.02, "workers": 1}}


@pytest.fixture
def cfg():
    return load_config(SETTINGS)


#: The model of every engine these tests make, the CLI's included.
SLOT = BackendSlot()


def make_engine(cfg) -> Engine:
    return Engine(cfg, backend_factory=SLOT)


def cmd_optimize(cfg, args) -> int:
    return run_optimize(cfg, args, engine_factory=make_engine)


@pytest.fixture
def model():
    def install(answers=None) -> VariantBackend:
        return SLOT.use(VariantBackend(answers))
    yield install
    SLOT.clear()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dise")
    add_optimize_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["optimize", *argv])


def stored(cfg, model, answers=None) -> str:
    model(answers)
    return make_engine(cfg).generate(Request(text=REQUEST, asserts=ASSERTS)).node_id


def test_optimize_one_node(cfg, model, capsys):
    node = stored(cfg, model)
    model({0.3: GOOD})
    assert cmd_optimize(cfg, parse(node)) == 0
    out = capsys.readouterr().out
    assert f"↑ {node}: fitness" in out and "is_even_v2" in out
    assert "qwen-0.5b @ 0.3" in out
    assert make_engine(cfg).store.latest(node).version == 2


def test_json_all_and_fitness_below(cfg, model, capsys):
    weak = stored(cfg, model)
    good = stored(cfg, model, {0.0: GOOD})
    model({0.3: GOOD})
    assert cmd_optimize(cfg, parse("--fitness-below=0.8", "--json")) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["node_id"] for r in results] == [weak]
    assert results[0]["status"] == "improved" and results[0]["new_artifact_ids"] == [
        f"{weak}_v2"]

    assert cmd_optimize(cfg, parse("all", "--priority=high", "--json")) == 0
    results = {r["node_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(results) == {weak, good}
    assert results[good]["status"] == "skipped"  # already above the target fitness


def test_mistakes_are_one_line_errors(cfg, model):
    for args, message in [((), "Say what to optimise"),
                          (("nope",), "No stored function 'nope'"),
                          (("--when-idle",), "--when-idle needs --background")]:
        with pytest.raises(DiseError, match=message) as err:
            cmd_optimize(cfg, parse(*args))
        assert "\n" not in str(err.value)


def test_shell_optimize(cfg, model, capsys):
    node = stored(cfg, model)
    model({0.3: GOOD})
    shell_optimize(cfg, f"/optimize {node} --priority=high", engine_factory=make_engine)
    assert "is_even_v2" in capsys.readouterr().out
    with pytest.raises(DiseError, match="usage: /optimize") as err:
        shell_optimize(cfg, "/optimize --priority=urgent", engine_factory=make_engine)
    assert "\n" not in str(err.value)


def test_background_until_empty(cfg, model, capsys):
    node = stored(cfg, model)
    model({0.3: GOOD})
    assert cmd_optimize(cfg, parse("--background", "--until-empty")) == 0
    assert "is_even_v2" in capsys.readouterr().out
    assert make_engine(cfg).store.queue() == []
    assert make_engine(cfg).store.latest(node).version == 2


def test_status_lines_show_queue_and_next_run(cfg, model):
    node = stored(cfg, model)
    engine = make_engine(cfg)
    now = time.time()
    record_activity(engine.store, now)  # the user was just active: queued work waits
    lines = status_lines(engine, node, now)
    assert lines[0] == f"queue: position 1 of 1 (high: fitness " \
        f"{engine.store.latest(node).fitness_score:.2f} < 0.8)"
    assert lines[1] == ("next run: in 2 min (waits until you are idle); no optimiser is "
                        "running: open your editor (`dise serve`) or run `dise optimize "
                        "--background`")
    from dise.optimize import Optimizer

    optimizer = Optimizer(engine, when_idle=True)  # as `dise serve` runs it: you are active
    optimizer.start()
    try:
        deadline = time.time() + 30
        while "no optimiser" in status_lines(engine, node, now)[1] and time.time() < deadline:
            time.sleep(0.05)
        assert status_lines(engine, node, now)[1] == \
            "next run: in 2 min (waits until you are idle)"
    finally:
        assert optimizer.stop()
    assert "no optimiser is running" in status_lines(engine, node, now)[1]

    model({0.3: GOOD})
    cmd_optimize(cfg, parse(node))
    lines = status_lines(engine, node, time.time())
    assert lines[0] == "queue: not queued for optimisation"
    assert lines[1].startswith("last optimised 0 s ago: made is_even_v2 in 1 experiments")
    assert lines[2].startswith("the optimiser's next scheduled run: ")


def test_describe_next_run():
    assert describe_next_run(None, 0) == "not scheduled"
    assert describe_next_run(0.5, 0) == "now"
    assert describe_next_run(3 * 3600 + 300, 0) == "in 3 h 5 min"
