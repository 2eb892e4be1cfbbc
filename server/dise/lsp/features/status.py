"""What DiSE knows, on request.

``dise.status`` ``{"nodeId"}`` or ``{"uri", "line"}`` or nothing
    The node's latest metrics, versions and queue position; without an argument, the
    server's running generations and store location.
``dise.showArtifact`` ``{"nodeId", "version"?}`` or ``{"uri", "line"}``
    One stored version: code, tests, metrics and the hover Markdown.
``dise.findSimilar`` ``{"uri", "line", "k"?}`` or ``{"query", "k"?}``
    Stored functions similar to the function under the cursor (its docstring, else its
    source) or to ``query``: ``[{"nodeId", "artifactId", "score", "fitness", "prompt"}]``.

Searches run in the retrieval thread (the embedding model loads and the vector index is
repaired there on first use), so hover and status never wait behind them; the model is warmed
up once an engine exists.
"""

from __future__ import annotations

import ast
import contextlib
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from dise.errors import DiseError
from dise.lsp.documents import file_name
from dise.lsp.feature import Feature
from dise.lsp.features.better_version import BetterVersion
from dise.lsp.features.generate import Generate
from dise.lsp.features.hover import optimise_below
from dise.lsp.features.known import KnownFunctions
from dise.lsp.hover import artifact_summary, hover_markdown
from dise.lsp.index import Known
from dise.lsp.protocol import (
    COMMAND_SHOW,
    COMMAND_SIMILAR,
    COMMAND_STATUS,
    detail,
    line_argument,
    object_argument,
)


class Status(Feature):
    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        ctx.events.on("engine", self._warm_up)

    def commands(self) -> dict[str, Any]:
        return {COMMAND_STATUS: self.cmd_status, COMMAND_SHOW: self.cmd_show_artifact,
                COMMAND_SIMILAR: self.cmd_find_similar}

    def _warm_up(self, engine: Any) -> None:
        """In a worker thread: start loading the embedding model and index (their own
        thread), so the first search or generation does not pay for it."""
        retrieval = getattr(getattr(engine, "cfg", None), "retrieval", None)
        if retrieval is not None and not retrieval.enabled:
            return
        try:
            memory = getattr(engine, "memory", None)
            if memory is not None:
                memory.warm_up()
        except Exception as exc:
            self.ctx.call_soon(self.ctx.log, lsp.MessageType.Warning,
                               f"DiSE could not warm up its retrieval memory: {detail(exc)}")

    def _node_argument(self, command: str, args: tuple) -> str | None:
        if not args:
            return None
        params = object_argument(command, args)
        if params.get("nodeId"):
            return str(params["nodeId"])
        if "uri" in params and "line" in params:
            snap = self.ctx.snapshot(params["uri"])
            line = line_argument(command, params)
            known = self.ctx.get_feature(KnownFunctions)
            match = known.known_at(snap, line) if snap is not None and known else None
            if match is None:
                raise DiseError(f"No DiSE-generated function at line {line + 1} of "
                                f"{file_name(str(params['uri']))}.")
            return match[0].node_id
        raise JsonRpcInvalidParams.of(ValueError(
            f'{command} takes {{"nodeId": ...}} or {{"uri": ..., "line": ...}}'))

    async def _node_status(self, node_id: str, args: tuple) -> dict[str, Any]:
        """``engine.status`` from the store holding the node: the document's folder's when
        the arguments name a ``uri``, else the main store, then other folders' stores."""
        uri = args[0].get("uri") if args and isinstance(args[0], dict) else None
        if isinstance(uri, str):
            engine = await self.ctx.engine(uri)
            return await self.ctx.in_io(engine.status, node_id)
        engine = await self.ctx.engine()
        try:
            return await self.ctx.in_io(engine.status, node_id)
        except DiseError:
            for other in self.ctx.other_engines():
                with contextlib.suppress(DiseError):
                    return await self.ctx.in_io(other.status, node_id)
            raise

    async def cmd_status(self, *args: Any) -> dict[str, Any]:
        ctx = self.ctx
        known_feature = ctx.get_feature(KnownFunctions)
        try:
            node_id = self._node_argument(COMMAND_STATUS, args)
            await ctx.engine()
            if node_id is None:
                generate = ctx.get_feature(Generate)
                jobs = list(generate.jobs.values()) if generate else []
                return {"jobs": [{"token": j.token, "uri": j.uri, "target": j.target.label}
                                 for j in jobs],
                        "store": str(ctx.settings.config.store_path) if ctx.settings else "",
                        "knownFunctions": known_feature.index.nodes() if known_feature else 0}
            status = await self._node_status(node_id, args)
        except DiseError as exc:
            return ctx.refuse(str(exc), kind=lsp.MessageType.Error)
        latest = status["latest"]
        if known_feature is not None:
            known_feature.index.update_node(Known(
                node_id, latest.function_name, "", latest, status.get("queue_position"),
                len(status["versions"])))
        summary = artifact_summary(latest, status.get("queue_position"))
        summary["versions"] = [{"version": v.version, "fitness": v.fitness_score,
                                "parent": v.parent, "phase": v.phase}
                               for v in status["versions"]]
        better = ctx.get_feature(BetterVersion)
        if better is not None:
            summary.update(better.status_extra(node_id))
        return summary

    async def cmd_show_artifact(self, *args: Any) -> dict[str, Any]:
        try:
            node_id = self._node_argument(COMMAND_SHOW, args)
            if node_id is None:
                raise JsonRpcInvalidParams.of(ValueError(
                    f'{COMMAND_SHOW} takes {{"nodeId": ..., "version"?: ...}}'))
            wanted = object_argument(COMMAND_SHOW, args).get("version")
            status = await self._node_status(node_id, args)
        except DiseError as exc:
            return self.ctx.refuse(str(exc), kind=lsp.MessageType.Error)
        versions = status["versions"]
        chosen = next((v for v in versions if v.version == wanted), None) if wanted else None
        artifact = chosen or status["latest"]
        queue = status.get("queue_position")
        data = artifact_summary(artifact, queue)
        data.update(code=artifact.code, tests=artifact.tests, prompt=artifact.prompt,
                    lint=artifact.lint, toolUsage=artifact.tool_usage,
                    markdown=hover_markdown(artifact, queue_position=queue,
                                            optimise_below=optimise_below(self.ctx),
                                            edited=False, versions=len(versions)))
        return data

    async def cmd_find_similar(self, *args: Any) -> list[dict[str, Any]] | dict[str, Any]:
        ctx = self.ctx
        params = object_argument(COMMAND_SIMILAR, args)
        query = params.get("query")
        if not query and "uri" in params:
            snap = ctx.snapshot(params["uri"])
            line = line_argument(COMMAND_SIMILAR, params)
            # Parsing a large file takes seconds: off the event loop, like everything slow.
            query = (await ctx.in_parse(function_text_at, snap.source, line)
                     if snap is not None else None)
        if not isinstance(query, str) or not query.strip():
            return ctx.refuse(f'{COMMAND_SIMILAR} takes {{"uri", "line"}} on a function, '
                              'or {"query"}.')
        k = params.get("k") if isinstance(params.get("k"), int) else None
        try:
            engine = await ctx.engine()
            hits = await ctx.in_retrieval(engine.memory.search, query, k)
        except DiseError as exc:
            return ctx.refuse(str(exc), kind=lsp.MessageType.Error)
        if engine.memory.reason:
            return ctx.refuse(engine.memory.reason)
        return [{"nodeId": a.node_id, "artifactId": a.artifact_id, "score": round(score, 3),
                 "fitness": a.fitness_score, "prompt": a.prompt, "functionName": a.function_name}
                for a, score in hits]


def function_text_at(source: str, line: int) -> str | None:
    """Docstring (else source) of the innermost function around 0-based ``line``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            if best is None or node.lineno > best.lineno:
                best = node
    if best is None:
        return None
    return ast.get_docstring(best) or ast.get_source_segment(source, best)
