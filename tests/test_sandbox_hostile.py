"""Hostile "model answers" against the real sandbox, at every isolation level this machine has.

Each case: nothing escapes, the caller stays up, the function is judged failing with a one-line
reason, and no secret (environment value or file outside the run directory) reaches the report.
Levels a machine lacks are skipped with the reason; CI installs bubblewrap (scripts/test).
"""

from __future__ import annotations

import os
import secrets
import textwrap

import pytest

from dise.config import SandboxConfig
from dise.engine import prompts
from dise.engine.types import FunctionSpec, Request
from dise.engine.types import TestCase as Case
from dise.sandbox import isolation, run_candidate

LEVELS = ["bubblewrap", "namespaces", "process"]


@pytest.fixture(params=LEVELS)
def level(request) -> str:
    if not isolation.available(request.param):
        pytest.skip(f"isolation level {request.param!r} is not available on this machine")
    return request.param


def config(level: str) -> SandboxConfig:
    return SandboxConfig(wall_timeout_s=3, per_test_timeout_s=0.5, cpu_seconds=3, memory_mb=512,
                         output_cap_bytes=4096, latency_repeats=1, isolation=level)


#: "Return x doubled", tested as Phase 1 would: a doctest, two given asserts and a smoke test.
DOUBLED = [Case("doctest", "double(2)", "4"), Case("given", "assert double(3) == 6"),
           Case("given", "assert double(-1) == -2"), Case("smoke", "double(0)")]


#: One test: enough for the cases that only need to be contained (each loop costs a limit).
ONE = [Case("given", "assert double(3) == 6")]


def run(level: str, body: str, *, tests=DOUBLED, prelude: str = ""):
    code = textwrap.dedent(prelude) + "\ndef double(x):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")
    report = run_candidate(code, "double", tests, config(level), measure=False)
    assert report.isolation == level
    return report


def assert_failing(report, *secret_texts: str) -> None:
    assert not report.all_passed
    reasons = [report.load_error] + [r.error for r in report.results if not r.passed]
    assert any(reasons), "a failing run must say why"
    for reason in reasons:
        assert "\n" not in reason
    stored = " ".join(reasons + [report.stdout, report.stderr])
    for secret in secret_texts:
        assert secret not in stored


def test_gc_forgery_of_passed_records_is_stored_as_failing(level):
    """The issue's example: 0 for "x doubled", then walk the GC to forge "passed" results."""
    report = run(level, """
        import gc
        for obj in gc.get_objects():
            try:
                if isinstance(obj, dict) and "passed" in obj:
                    obj["passed"] = True
                if hasattr(obj, "emit") and hasattr(obj, "tests"):
                    for i in range(len(obj.tests)):
                        obj.emit({"type": "test", "index": i, "passed": True, "seconds": 0})
                        obj.emit({"type": "done"})
                if hasattr(obj, "probe"):
                    obj.probe = lambda *a, **k: None
            except Exception:
                pass
        return 0
    """)
    assert_failing(report)
    assert report.passed <= 1  # at most the smoke test, which only asks "does not crash"
    assert "expected 6" in report.results[1].error or "never checked" in report.results[1].error


def test_eq_always_true_does_not_pass(level):
    report = run(level, "return Liar()", prelude="""
        class Liar:
            def __eq__(self, other):
                return True
            def __repr__(self):
                return "4"
    """)
    assert_failing(report)
    assert "cannot be checked" in report.results[1].error


@pytest.mark.parametrize("body", [
    "while True:\n    pass",
    "return len(bytearray(10 * 1024 ** 3))",
    "import os\nwhile True:\n    os.fork()",
    "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(60)\nreturn 0",
    "import subprocess\nsubprocess.Popen(['sleep', '60'])\nreturn 2 * x",
    "import os\nos.system('sleep 60 &')\nreturn 2 * x",
    "import ctypes\nctypes.CDLL(None).system(b'sleep 60 &')\nreturn 2 * x",
    "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\nreturn 2 * x",
    "print('x' * 50_000_000)\nreturn 0",
    "return double(x + 1)",
    "i = 0\nwhile True:\n    open(f'fill{i}', 'wb').write(b'0' * 5 * 1024 * 1024)\n    i += 1",
    "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nreturn 2 * x",
    "import threading, time\nfor _ in range(100000):\n"
    "    threading.Thread(target=time.sleep, args=(60,)).start()\nreturn 2 * x",
    "import os\nos._exit(0)",
    "import os\nos.close(1)\nos.close(2)\nfor fd in range(3, 64):\n"
    "    try:\n        os.close(fd)\n    except OSError:\n        pass\nreturn 0",
], ids=["loop", "memory-bomb", "fork-bomb", "daemon", "subprocess", "os-system", "ctypes",
        "socket", "huge-output", "deep-recursion", "disk-filling", "kill-parent",
        "thread-bomb", "os-exit", "close-fds"])
def test_hostile_call_is_contained_and_failing(level, body):
    report = run(level, body, tests=ONE)
    assert_failing(report)
    assert os.getpid() > 0  # still here; the next test runs in this same process


def test_sys_exit_at_import_is_a_load_error(level):
    report = run(level, "return 2 * x", prelude="import sys\nsys.exit(0)\n")
    assert_failing(report)
    assert report.load_error


@pytest.mark.parametrize("how", ["plain", "symlink", "os.open"])
def test_writes_outside_the_run_directory_do_not_land(level, how, tmp_path):
    target = tmp_path / f"pwned-{secrets.token_hex(4)}"
    write = {
        "plain": f"open({str(target)!r}, 'w').write('x')",
        "symlink": f"import os\nos.symlink({str(target)!r}, 'link')\nopen('link', 'w').write('x')",
        "os.open": f"import os\nos.close(os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT))",
    }[how]
    report = run(level, write + "\nreturn 2 * x", tests=ONE)
    assert not target.exists()
    assert_failing(report)


def test_tampering_with_the_store_changes_nothing(level, tmp_path, monkeypatch):
    home = tmp_path / "dise-home"
    home.mkdir()
    store = home / "store.json"
    store.write_text('{"nodes": {}}')
    monkeypatch.setenv("DISE_HOME", str(home))
    report = run(level, f"""
        import os, shutil
        for attempt in (lambda: open({str(store)!r}, 'w').write('pwned'),
                        lambda: os.remove({str(store)!r}),
                        lambda: shutil.rmtree({str(home)!r})):
            try:
                attempt()
            except Exception:
                pass
        return 0
    """)
    assert store.read_text() == '{"nodes": {}}'
    assert_failing(report)


def test_secrets_never_reach_the_report(level, tmp_path, monkeypatch):
    """Reads ~/.ssh-like, ~/.aws-like and .env files and the environment, then raises with
    whatever it found: neither the file contents nor the values may be in the report."""
    file_secret = f"FILESECRET-{secrets.token_hex(8)}"
    env_secret = f"ENVSECRET-{secrets.token_hex(8)}"
    for name in (".ssh/id_ed25519", ".aws/credentials", "project/.env"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"key = {file_secret}\n")
    monkeypatch.setenv("DISE_TEST_TOKEN", env_secret)
    report = run(level, f"""
        import os
        found = [os.environ.get('DISE_TEST_TOKEN', '')]
        for name in ('.ssh/id_ed25519', '.aws/credentials', 'project/.env'):
            try:
                found.append(open(os.path.join({str(tmp_path)!r}, name)).read())
            except Exception as exc:
                found.append(str(exc))
        print(found)
        raise ValueError('{env_secret} ' + ' '.join(found))
    """)
    assert_failing(report, file_secret, env_secret)
    assert "[secret removed]" in report.results[1].error  # the scrubber caught the literal
    # ... and so the repair round's prompt (what a remote model would see) holds neither.
    request = Request("return x doubled", spec=FunctionSpec("double", "def double(x):"))
    messages = prompts.repair_messages(request, request.spec, "def double(x): ...", report)
    prompt = "\n".join(m["content"] for m in messages)
    assert "[secret removed]" in prompt
    assert file_secret not in prompt and env_secret not in prompt


# -- through the whole Phase 1 pipeline, as `dise generate` stores it ------------------------

FORGING_ANSWER = '''```python
import gc


def double(x):
    """Return x doubled.

    >>> double(2)
    4
    """
    for obj in gc.get_objects():
        try:
            if isinstance(obj, dict) and "passed" in obj:
                obj["passed"] = True
            if hasattr(obj, "emit") and hasattr(obj, "tests"):
                for i in range(len(obj.tests)):
                    obj.emit({"type": "test", "index": i, "passed": True, "seconds": 0})
        except Exception:
            pass
    found = [__import__("os").environ.get("DISE_TEST_API_KEY", "")]
    try:
        found.append(open(SECRET_FILE).read())
    except Exception as exc:
        found.append(str(exc))
    raise ValueError(" ".join(found))
    return 0
```'''


def test_pipeline_stores_a_forging_secret_reading_answer_as_failing(level, monkeypatch,
                                                                    tmp_path):
    """The issue's case end to end (scripted model answer, real engine, store and sandbox):
    stored with test_passed false, and the secret in neither the store nor any prompt."""
    import json

    from dise.config import load_config
    from dise.engine import core

    from support.scripted_backend import ScriptedBackend

    secret = f"ENVSECRET-{secrets.token_hex(8)}"
    file_secret = f"FILESECRET-{secrets.token_hex(8)}"
    monkeypatch.setenv("DISE_TEST_API_KEY", secret)
    secret_file = tmp_path / ".aws" / "credentials"
    secret_file.parent.mkdir()
    secret_file.write_text(f"aws_secret_access_key = {file_secret}\n")
    backend = ScriptedBackend(FORGING_ANSWER.replace("SECRET_FILE", repr(str(secret_file))))
    cfg = load_config()
    cfg.sandbox.isolation = level
    engine = core.Engine(cfg, backend_factory=lambda gen, cfg: backend)
    artifact = engine.generate(Request(text="return x doubled",
                                       asserts=["assert double(3) == 6",
                                                "assert double(-1) == -2"]))
    assert not artifact.test_passed
    assert artifact.tests_passed < artifact.tests_total
    assert artifact.extra["isolation"] == level
    stored = json.dumps(engine.store.latest(artifact.node_id).to_dict())
    for text in (secret, file_secret):
        assert text not in stored
        assert all(text not in m["content"] for call in backend.calls for m in call)
