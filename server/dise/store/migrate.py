"""``dise store migrate --to URL``: copy the configured store into another one, either way
between the local TinyDB file and a shared PostgreSQL store, then verify the copy.

The source is the store the configuration names (``[store] url``, else
``$DISE_HOME/store.json``); the target is a ``postgresql://`` url or a TinyDB file path and
must be empty (nothing is merged or overwritten). Every table is copied as is (versions with
their lineage and makers, node records with usage and file locations, frozen tests with
credibility, the queue in order, the registry, Phase 2 state) in one transaction (PostgreSQL)
or one atomic write (TinyDB); leases are not copied (they belong to running processes). The
copy is read back and counted table by table; a difference is an error that names it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dise.errors import DiseError


class MigrateError(DiseError):
    """The copy could not be made or did not verify; the source is untouched."""


@dataclass
class MigrateReport:
    source: str
    target: str
    #: Table name -> records copied (equal in source and target).
    counts: dict[str, int]


def _describe(store: Any) -> str:
    from dise.store.pg_core import redact

    url = getattr(store, "url", None)
    return redact(url) if url else str(store.path)


def open_target(to: str, cfg: Any) -> Any:
    """The store ``to`` names: a ``postgresql://`` url, or a TinyDB file (a folder means
    ``<folder>/store.json``)."""
    from dise.store import Store

    if to.startswith(("postgresql://", "postgres://")):
        from dise.store.postgres import PgStore

        return PgStore(to, cfg.home / "migrate-target.json")
    if "://" in to:
        raise MigrateError(f"--to must be a postgresql:// url or a file path, not {to!r}.")
    path = Path(to).expanduser()
    if path.is_dir():
        path = path / "store.json"
    return Store(path)


def migrate(cfg: Any, to: str) -> MigrateReport:
    """Copy the configured store into the empty store ``to``, verify counts, and report."""
    from dise.store import open_store

    source = open_store(cfg)
    try:
        target = open_target(to, cfg)
    except Exception:
        source.close()
        raise
    with source, target:
        src, dst = _describe(source), _describe(target)
        if src == dst or (not getattr(target, "url", None) and not getattr(source, "url", None)
                          and Path(target.path).resolve() == Path(source.path).resolve()):
            raise MigrateError(f"--to names the store being copied ({src}); give another one.")
        existing = {name: len(rows) for name, rows in target.export_tables().items() if rows}
        if existing:
            what = ", ".join(f"{n} {name}" for name, n in existing.items())
            raise MigrateError(f"The target store {dst} is not empty ({what}); migrate only "
                               "into an empty store (nothing is merged or overwritten).")
        tables = source.export_tables()
        target.import_tables(tables)
        copied = target.export_tables()
        counts = {name: len(rows) for name, rows in tables.items()}
        wrong = [f"{name}: {len(copied.get(name, []))} of {n}" for name, n in counts.items()
                 if len(copied.get(name, [])) != n]
        if wrong or target.count() != source.count():
            raise MigrateError(f"The copy in {dst} does not match {src} ({'; '.join(wrong)}); "
                               "the source is untouched.")
        return MigrateReport(src, dst, counts)


# -- CLI (hooked in by dise/cli/store.py) --------------------------------------------------
def add_store_parser(sub: Any) -> None:
    """``dise store migrate --to URL``."""
    store = sub.add_parser("store", help="manage the artifact store (migrate to PostgreSQL)")
    actions = store.add_subparsers(dest="store_action", metavar="ACTION", required=True)
    mig = actions.add_parser(
        "migrate", help="copy this store into an empty one: TinyDB <-> PostgreSQL",
        description="Copies the configured store (the [store] url, else $DISE_HOME/store.json) "
        "into an empty target and verifies the counts.")
    mig.add_argument("--to", required=True, metavar="URL",
                     help="postgresql://user@host/db, or a TinyDB file path")


def cmd_store(cfg: Any, args: argparse.Namespace) -> int:
    report = migrate(cfg, args.to)
    total = ", ".join(f"{n} {name}" for name, n in report.counts.items())
    print(f"Copied {report.source} -> {report.target}: {total}; counts verified.")
    if report.target.startswith(("postgresql://", "postgres://")):
        print(f'To use it, set in dise.toml:  [store] url = "{args.to}"')
    return 0
