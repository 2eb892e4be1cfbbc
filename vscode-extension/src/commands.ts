/**
 * Arguments for the server's commands and the messages built from their answers.
 * Pure (no `vscode` import): the extension passes plain values in and shows what comes out.
 *
 * Server commands (server/dise/lsp/features/*.py), each taking one JSON object:
 *   dise.generate {uri, line, version?, name?} → {applied, nodeId, artifactId, fitness, reason?}
 *   dise.status {uri, line} | {nodeId} | nothing
 *   dise.showArtifact {nodeId, version?} | {uri, line} → {code, version, fitness, ...}
 *   dise.optimize {uri, line} | {all: true}   (Phase 2)
 */

export const SERVER_COMMANDS = {
  generate: "dise.generate",
  status: "dise.status",
  showArtifact: "dise.showArtifact",
  optimize: "dise.optimize",
} as const;

/** Scheme of the read-only documents that hold one stored version (for the diff editor). */
export const ARTIFACT_SCHEME = "dise-artifact";

export interface FunctionArgs {
  uri: string;
  line: number;
}

export function functionArgs(uri: string, line: number): FunctionArgs {
  return { uri, line: Math.max(0, Math.floor(line)) };
}

export function optimizeArgs(scope: "function" | "all", uri?: string, line?: number): FunctionArgs | { all: true } {
  if (scope === "all") {
    return { all: true };
  }
  if (uri === undefined || line === undefined) {
    throw new Error("optimizeArgs: a function needs its uri and line");
  }
  return functionArgs(uri, line);
}

export function serverSupports(commands: readonly string[] | undefined, command: string): boolean {
  return Array.isArray(commands) && commands.includes(command);
}

export const OPTIMIZE_UNSUPPORTED =
  "This DiSE server cannot optimise yet (it has no dise.optimize command); upgrade it with: pip install --upgrade dise.";

/** Minimal view of a code action, as `vscode.executeCodeActionProvider` returns it. */
export interface ActionLike {
  title: string;
  command?: { command: string; arguments?: unknown[] };
}

/** The DiSE generate actions among all code actions at the cursor. */
export function generateActions<T extends ActionLike>(actions: readonly T[] | undefined): T[] {
  return (actions ?? []).filter((a) => a.command?.command === SERVER_COMMANDS.generate);
}

/**
 * Whether a chosen code action goes to the server's `codeAction/resolve`. VS Code resolves
 * every chosen action of a server that can resolve, and the round trip widens the window in
 * which VS Code may release the action list (and with it the action's command: "Actual
 * command not found"). The server marks the actions it has something to resolve for with
 * `data` (Accept on an unedited function: the edit); the others are run as they came.
 */
export function resolvesOnServer(action: { data?: unknown }): boolean {
  return action.data !== undefined && action.data !== null;
}

export function noStubMessage(line: number): string {
  return `DiSE found no stub or "# dise:" comment at line ${line + 1}; write a def with a docstring (or a "# dise: what you want" comment) and run this again.`;
}

export interface GenerateResult {
  applied?: boolean;
  nodeId?: string;
  artifactId?: string;
  fitness?: number;
  reason?: string;
  cancelled?: boolean;
}

/** A short status bar message after a generation; `undefined` when the server already told the user. */
export function generateResultMessage(result: GenerateResult | null | undefined): string | undefined {
  if (!result || !result.applied) {
    return undefined;
  }
  const name = result.artifactId ?? result.nodeId ?? "the function";
  const fitness = typeof result.fitness === "number" ? ` · fitness ${result.fitness.toFixed(2)}` : "";
  return `DiSE: inserted ${name}${fitness}`;
}

/** The message after `dise.optimize`; the server's own words when it gives some. */
export function optimizeResultMessage(result: unknown, scope: "function" | "all"): string {
  if (result && typeof result === "object") {
    const r = result as Record<string, unknown>;
    for (const key of ["message", "reason"]) {
      if (typeof r[key] === "string" && (r[key] as string).trim()) {
        return r[key] as string;
      }
    }
    const queued = Array.isArray(r.queued) ? r.queued.length : typeof r.queued === "number" ? r.queued : undefined;
    if (queued !== undefined) {
      return `DiSE queued ${queued} function${queued === 1 ? "" : "s"} for optimisation.`;
    }
  }
  return scope === "all" ? "DiSE queued all its functions for optimisation." : "DiSE queued this function for optimisation.";
}

export interface VersionInfo {
  version: number;
  fitness?: number;
}

/** What `dise.status {uri, line}` returns, as far as the diff needs it. */
export interface NodeStatus {
  nodeId?: string;
  function?: string;
  version?: number;
  fitness?: number;
  versions?: VersionInfo[];
  /** The version that is in the editor, if the server says so (Phase 2). */
  current?: number;
  currentVersion?: number;
}

export type DiffChoice =
  | { ok: true; nodeId: string; name: string; from: VersionInfo; to: VersionInfo; title: string }
  | { ok: false; message: string };

/**
 * Which two versions to compare: `requested` (from a lens), else the version in the editor
 * when the server reports it, else the one before the latest, against the latest.
 */
export function chooseDiff(status: NodeStatus, requested?: { from?: number; to?: number }): DiffChoice {
  const name = status.function ?? status.nodeId ?? "this function";
  if (!status.nodeId) {
    return { ok: false, message: "DiSE: the cursor is not in a function DiSE generated." };
  }
  const versions = [...(status.versions ?? [])].sort((a, b) => a.version - b.version);
  if (versions.length === 0 && typeof status.version === "number") {
    versions.push({ version: status.version, fitness: status.fitness });
  }
  const byNumber = (n: number | undefined) => versions.find((v) => v.version === n);
  const latest = versions[versions.length - 1];
  const to = byNumber(requested?.to) ?? latest;
  const currentNumber = requested?.from ?? status.currentVersion ?? status.current;
  const older = versions.filter((v) => to && v.version < to.version);
  const from = byNumber(currentNumber) ?? older[older.length - 1];
  if (!to || !from || from.version === to.version) {
    const only = latest ? ` (v${latest.version})` : "";
    return {
      ok: false,
      message: `DiSE: ${name} has no optimised version to compare${only} yet; "DiSE: Optimize This Function" looks for one.`,
    };
  }
  const label = (v: VersionInfo) => `v${v.version}${typeof v.fitness === "number" ? ` (${v.fitness.toFixed(2)})` : ""}`;
  return { ok: true, nodeId: status.nodeId, name, from, to, title: `${name}: ${label(from)} ↔ ${label(to)}` };
}

/** `dise-artifact:/is_valid_email.v2.py?node=…&version=2`: a version as a document. */
export function artifactUri(nodeId: string, version: number, name: string): string {
  const safe = name.replace(/[^\w.-]/g, "_") || "function";
  const query = `node=${encodeURIComponent(nodeId)}&version=${version}`;
  return `${ARTIFACT_SCHEME}:/${safe}.v${version}.py?${query}`;
}

export function parseArtifactQuery(query: string): { nodeId: string; version: number } | undefined {
  const params = new URLSearchParams(query);
  const nodeId = params.get("node");
  const version = Number(params.get("version"));
  if (!nodeId || !Number.isInteger(version) || version < 1) {
    return undefined;
  }
  return { nodeId, version };
}

/** The text of one stored version: a one-line header (id, fitness), then its code. */
export function artifactDocument(data: { code?: unknown; version?: unknown; fitness?: unknown; artifactId?: unknown }): string {
  const code = typeof data.code === "string" ? data.code : "";
  const head = `# DiSE ${typeof data.artifactId === "string" ? data.artifactId : ""}`.trimEnd()
    + (typeof data.fitness === "number" ? ` · fitness ${data.fitness.toFixed(2)}` : "");
  return `${head}\n${code.endsWith("\n") ? code : `${code}\n`}`;
}
