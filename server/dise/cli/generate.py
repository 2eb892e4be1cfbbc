"""`dise generate "request"` and `dise generate --file F [--function NAME]` (fills the stub, or
every stub of the file in order when no name is given)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape

from dise.cli import output
from dise.cli.common import EngineFactory, make_engine, run_generation
from dise.config import Config
from dise.engine import verdict
from dise.errors import DiseError
from dise.types import Artifact, Request


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    gen = sub.add_parser("generate", parents=[common],
                         help="generate a function from a request or a stub")
    gen.add_argument("request", nargs="?", help='what the function should do, in quotes')
    gen.add_argument("--file", help="Python file holding a stub to fill")
    gen.add_argument("--function", help="name of the stub in --file (default: every stub)")
    gen.add_argument("--generator", help="force a generator (see dise.toml; e.g. qwen-1.5b)")
    gen.add_argument("--assert", dest="asserts", action="append", metavar="ASSERT",
                     help='a test the function must pass, e.g. --assert "f(2) == 4" (repeatable)')
    gen.add_argument("--json", action="store_true", help="print the stored artifact as JSON")


def _request_from_args(args: argparse.Namespace) -> tuple[Request, Any]:
    if args.file:
        from dise.engine import stubs
        from dise.engine.sourcefile import read_source

        source_file = read_source(args.file)  # encoding, BOM and line endings as on disk
        path, source = source_file.path, source_file.text
        stub = stubs.find_stub(source, name=args.function)
        if stub is None:
            names = ", ".join(s.spec.name for s in stubs.find_stubs(source)) or "none"
            raise DiseError(f"No stub named {args.function!r} in {path} (stubs found: {names}). "
                            "A stub is a def whose body is only a docstring, ... or pass.")
        text = args.request or stub.spec.docstring or stub.spec.name
        request = Request(text=text, spec=stub.spec, file_source=source, file_path=str(path),
                          workspace=str(path.resolve().parent), asserts=args.asserts or [],
                          generator=args.generator)
        return request, (path, source_file, stub)
    return Request(text=args.request or "", asserts=args.asserts or [],
                   generator=args.generator), None


def run(cfg: Config, args: argparse.Namespace, *,
        engine_factory: EngineFactory = make_engine) -> int:
    """Generate, print the artifact (or JSON) and, with --file, write it into the file; with
    --file and no --function, every stub of the file in turn (a JSON list with --json). Exit
    status 1 when a function fails one of the user's own tests (it is still written, stored and
    queued) or one of several stubs could not be generated (the others are written), as a
    test runner's would."""
    if args.function and not args.file:
        raise DiseError("--function needs --file: dise generate --file F --function NAME.")
    args.asserts = [a if a.lstrip().startswith("assert") else f"assert {a}"
                    for a in args.asserts or []]
    names = [args.function] if args.function or not args.file else _stub_names(args)
    from dise.optimize.state import record_activity

    if len(names) == 1:
        args.function = names[0]
        request, target = _request_from_args(args)  # wrong file or name: said before loading
    engine = engine_factory(cfg)
    record_activity(engine.store)  # a --when-idle optimiser elsewhere waits for the user
    if len(names) == 1:
        artifact = _generate(engine, args, request, target)
        if args.json:
            print(json.dumps(artifact.to_dict(), indent=2, default=str))
        return 1 if verdict.trusted_counts(artifact)[0] else 0
    done, failed = [], 0
    for name in names:
        args.function = name
        try:
            request, target = _request_from_args(args)  # the file as the last write left it
            artifact = _generate(engine, args, request, target)
            done.append(artifact.to_dict())
            failed += bool(verdict.trusted_counts(artifact)[0])
        except DiseError as exc:
            failed += 1
            output.console.print(f"[red]{escape(name)}: {escape(str(exc))}[/]", soft_wrap=True)
    if args.json:
        print(json.dumps(done, indent=2, default=str))
    return 1 if failed else 0


def _stub_names(args: argparse.Namespace) -> list[str]:
    """The names of every stub in ``args.file``, in order (DiseError when there is none, or
    when a request text would have to describe several)."""
    from dise.engine import stubs
    from dise.engine.sourcefile import read_source

    source_file = read_source(args.file)
    names = [s.spec.name for s in stubs.find_stubs(source_file.text)]
    if not names:
        raise DiseError(f"No stub in {source_file.path}: a stub is a def whose body is only a "
                        "docstring, ... or pass.")
    if len(names) > 1 and (args.request or args.asserts):
        raise DiseError(f"{source_file.path} holds {len(names)} stubs "
                        f"({', '.join(names)}): name the one your request or asserts are for "
                        "with --function NAME.")
    return names


def _generate(engine: Any, args: argparse.Namespace, request: Request, target: Any) -> Artifact:
    """One generation: run it, write it into the file (with --file), print it (not --json)."""
    artifact = run_generation(engine, request) if not args.json else \
        engine.generate(request)
    written = _write_into_file(artifact, *target) if target is not None else None
    if not args.json:
        console = output.console
        queue = engine.store.queue_position(artifact.node_id)
        failed = verdict.failed_line(artifact, queue)
        # the failure line names the queue position: said once, there
        output.print_artifact(artifact, queue_position=None if failed else queue,
                              written=written)
        if target is not None:
            wrote = f"Wrote {artifact.function_name} into {target[0]}"
            console.print(f"[yellow]{escape(wrote)}, but {escape(failed)}[/]" if failed
                          else f"[green]{escape(wrote)}.[/]", soft_wrap=True)
        elif failed:  # one unwrapped last line, so scripts can read it
            console.print(f"[yellow]{escape(failed)}[/]", soft_wrap=True)
    return artifact


def _write_into_file(artifact: Artifact, path: Path, source_file, stub) -> str | None:
    """Splice the artifact into the stub and write the file (its encoding and line endings
    kept); return the function as written (``written_function``)."""
    from dise.engine import stubs
    from dise.engine.sourcefile import SourceFileError, write_source

    result = stubs.splice(source_file.text, stub, artifact.code, artifact.function_name)
    try:
        write_source(source_file, result.new_source)
    except SourceFileError as exc:
        raise DiseError(f"{exc} The artifact is stored as {artifact.artifact_id}: run the "
                        "command again.") from None
    return written_function(result.new_source, artifact.function_name,
                            stub.def_line + len(result.added_imports))


def written_function(source: str, name: str, near_line: int) -> str | None:
    """The source of function ``name`` (decorators included, dedented) whose ``def`` is
    nearest the 0-based ``near_line`` of ``source``; None when ``source`` does not parse or
    has no such function."""
    import ast
    import textwrap

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name == name]
    if not found:
        return None
    node = min(found, key=lambda n: abs(n.lineno - 1 - near_line))
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    lines = source.splitlines()[first:node.end_lineno]
    return textwrap.dedent("\n".join(lines)) + "\n"
