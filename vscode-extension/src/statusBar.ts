/**
 * The status bar item's text and tooltip, from the client's state and the optimiser state
 * the server sends as `dise/optimizerState`. Pure, so every state is unit-tested.
 */

/** Custom notification the server sends when the optimiser's state changes. */
export const OPTIMIZER_STATE_NOTIFICATION = "dise/optimizerState";

/** Params of `dise/optimizerState`. */
export interface OptimizerState {
  state: string;
  /** The node (function) being optimised. */
  node?: string | null;
  /** Experiments done and planned for that node. */
  done?: number | null;
  total?: number | null;
  /** Best fitness found so far. */
  best?: number | null;
}

export type ClientPhase = "starting" | "running" | "failed" | "stopped";

export interface StatusBarView {
  text: string;
  tooltip: string;
  /** Shown with the warning background (the server cannot run). */
  warning: boolean;
}

/** Accepts the British and American spelling. */
export function normaliseState(state: string | undefined): "idle" | "optimising" | "paused" | string {
  const value = (state ?? "").trim().toLowerCase();
  if (value === "optimizing" || value === "optimising" || value === "running") {
    return "optimising";
  }
  return value;
}

export function formatFitness(value: number | null | undefined): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(2) : undefined;
}

/** "3/5", "3", or "" from the counts the server sent. */
function counts(state: OptimizerState): string {
  const done = typeof state.done === "number" ? state.done : undefined;
  const total = typeof state.total === "number" ? state.total : undefined;
  if (done !== undefined && total !== undefined) {
    return `${done}/${total}`;
  }
  return done !== undefined ? `${done}` : "";
}

export function statusBarView(phase: ClientPhase, optimizer?: OptimizerState, problem?: string): StatusBarView {
  if (phase === "starting") {
    return { text: "$(loading~spin) DiSE", tooltip: "DiSE: starting the language server…", warning: false };
  }
  if (phase === "failed" || phase === "stopped") {
    const why = problem ?? (phase === "failed" ? "the language server could not start" : "the language server stopped");
    return { text: "$(error) DiSE", tooltip: `DiSE: ${why}. Click for details.`, warning: true };
  }
  if (!optimizer) {
    return { text: "$(sparkle) DiSE", tooltip: "DiSE is ready. Click for its status.", warning: false };
  }
  const state = normaliseState(optimizer.state);
  const best = formatFitness(optimizer.best);
  const node = optimizer.node ? ` ${optimizer.node}` : "";
  if (state === "optimising") {
    const n = counts(optimizer);
    const text = `$(sync~spin) DiSE: optimising${n ? ` ${n}` : ""}${best ? ` · best ${best}` : ""}`;
    const experiments = optimizer.total !== undefined && optimizer.total !== null
      ? `: ${optimizer.done ?? 0} of ${optimizer.total} experiments`
      : "";
    return {
      text,
      tooltip: `DiSE is optimising${node}${experiments}${best ? `, best fitness ${best}` : ""}. Click for its status.`,
      warning: false,
    };
  }
  if (state === "paused") {
    return {
      text: "$(debug-pause) DiSE: paused",
      tooltip: `DiSE's optimiser is paused${node ? ` (at${node})` : ""} while you work; it resumes when you are idle. Click for its status.`,
      warning: false,
    };
  }
  if (state === "idle") {
    return { text: "$(sparkle) DiSE: idle", tooltip: "DiSE's optimiser is idle. Click for its status.", warning: false };
  }
  return { text: `$(sparkle) DiSE: ${state || "ready"}`, tooltip: `DiSE: ${state || "ready"}. Click for its status.`, warning: false };
}
