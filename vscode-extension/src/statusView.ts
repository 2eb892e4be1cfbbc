/**
 * The "DiSE Status" page: what the server runs, what the optimiser does, and the function at
 * the cursor. Pure HTML from plain data (no scripts in the webview), unit-tested in node.
 */

import { OptimizerState, formatFitness, normaliseState } from "./statusBar";

export interface StatusPageData {
  /** How the server was started ("python3 -m dise.lsp"). */
  serverCommand: string;
  /** Client state in words ("running", "failed: …"). */
  serverState: string;
  /** `dise.status` without arguments: {jobs, store, knownFunctions}. */
  server?: { jobs?: { target?: string; uri?: string }[]; store?: string; knownFunctions?: number } | null;
  optimizer?: OptimizerState;
  /** `dise.status {uri, line}` for the function at the cursor, when there is one. */
  node?: Record<string, unknown> | null;
  /** Commands the server offers (from its capabilities). */
  serverCommands?: readonly string[];
}

export function escapeHtml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function row(name: string, value: unknown): string {
  return `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`;
}

function percent(value: unknown): string {
  return typeof value === "number" ? `${Math.round(value * 100)}%` : "–";
}

function latency(value: unknown): string {
  if (typeof value !== "number") {
    return "–";
  }
  if (value < 1e-3) {
    return `${Math.round(value * 1e6)} µs`;
  }
  return value < 1 ? `${(value * 1e3).toFixed(1)} ms` : `${value.toFixed(2)} s`;
}

export function optimizerLine(state: OptimizerState | undefined): string {
  if (!state) {
    return "no report from the optimiser yet";
  }
  const name = normaliseState(state.state);
  const parts = [name];
  if (state.node) {
    parts.push(`node ${state.node}`);
  }
  if (typeof state.done === "number") {
    parts.push(typeof state.total === "number" ? `${state.done} of ${state.total} experiments` : `${state.done} experiments`);
  }
  const best = formatFitness(state.best);
  if (best) {
    parts.push(`best fitness ${best}`);
  }
  return parts.join(" · ");
}

function nodeSection(node: Record<string, unknown>): string {
  const versions = Array.isArray(node.versions) ? (node.versions as Record<string, unknown>[]) : [];
  const lineage = versions
    .map((v) => `v${escapeHtml(v.version)} (${typeof v.fitness === "number" ? v.fitness.toFixed(2) : "–"})`)
    .join(" → ");
  const tests = `${node.testsPassed ?? "–"}/${node.testsTotal ?? "–"} passed`;
  return [
    `<h2>${escapeHtml(node.function ?? node.nodeId)}</h2>`,
    "<table>",
    row("fitness", typeof node.fitness === "number" ? node.fitness.toFixed(2) : "–"),
    row("quality", typeof node.quality === "number" ? node.quality.toFixed(2) : "–"),
    row("latency", latency(node.latency)),
    row("coverage", percent(node.coverage)),
    row("tests", tests),
    row("version", `${node.artifactId ?? ""}${node.parent ? ` (parent ${node.parent})` : ""}`),
    row("phase", node.phase ?? "–"),
    row("generator", `${node.generator ?? "–"} · ${node.model ?? "–"} · ${node.backend ?? "–"}`),
    row("queue", node.queuePosition === null || node.queuePosition === undefined ? "not queued" : `position ${node.queuePosition}`),
    "</table>",
    lineage ? `<p>Versions: ${lineage}</p>` : "",
  ].join("\n");
}

export function statusHtml(data: StatusPageData): string {
  const jobs = data.server?.jobs ?? [];
  const body = [
    "<h1>DiSE</h1>",
    "<table>",
    row("server", data.serverState),
    row("command", data.serverCommand),
    row("store", data.server?.store ?? "–"),
    row("functions known in open files", data.server?.knownFunctions ?? "–"),
    row("generating", jobs.length ? jobs.map((j) => j.target ?? j.uri).join(", ") : "nothing"),
    row("optimiser", optimizerLine(data.optimizer)),
    row("server commands", (data.serverCommands ?? []).join(", ") || "–"),
    "</table>",
    data.node ? nodeSection(data.node) : "<p>Put the cursor in a function DiSE generated and run “DiSE: Show Status” to see its metrics.</p>",
  ].join("\n");
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="UTF-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">`,
    "<title>DiSE Status</title>",
    "<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground);padding:0 1em}",
    "th{text-align:left;padding-right:1.5em;font-weight:600}td,th{padding-top:.2em;vertical-align:top}</style>",
    `</head><body>${body}</body></html>`,
  ].join("\n");
}
