/**
 * VS Code settings (`dise.*`) → the settings object the DiSE server reads
 * (`initializationOptions` and `workspace/didChangeConfiguration`, see
 * server/dise/lsp/settings.py). Pure: no `vscode` import, so it is unit-tested in node.
 *
 * Only settings the user set explicitly are sent. The server's own precedence (defaults <
 * `dise.toml` < environment < editor settings) then still holds for everything else: a
 * default shown in VS Code never hides `DISE_BACKEND` or a `dise.toml`.
 */

/** Where a `dise.*` setting goes in the server's settings object, and how its value changes. */
export interface ServerSetting {
  path: readonly string[];
  convert?: (value: unknown) => unknown;
}

const SECONDS_PER_HOUR = 3600;

/** Every `dise.*` setting the server reads (`dise.config.Config` fields, plus `storeScope`). */
export const SERVER_SETTINGS: Readonly<Record<string, ServerSetting>> = {
  backend: { path: ["backend"] },
  ollamaHost: { path: ["ollama", "host"] },
  defaultGenerator: { path: ["pipeline", "default_generator"] },
  generators: { path: ["generators"] },
  "optimizer.enabled": { path: ["optimize", "enabled"] },
  "optimizer.idleSeconds": { path: ["optimize", "idle_after_s"] },
  "optimizer.scheduleHours": {
    path: ["optimize", "schedule_interval_s"],
    convert: (hours) => (typeof hours === "number" ? hours * SECONDS_PER_HOUR : hours),
  },
  storeScope: { path: ["storeScope"] },
  home: { path: ["home"] },
};

/** Settings the extension itself uses to start the server; the server never sees them. */
export const LAUNCH_SETTINGS: readonly string[] = ["pythonPath", "serverPath"];

/** The section VS Code and the server both use. */
export const SECTION = "dise";

export type SettingsObject = { [key: string]: unknown };

/** True for a value that means "not set": undefined, null, or an empty/blank string. */
export function isUnset(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

/**
 * Build the server's settings object from the explicitly set `dise.*` values
 * (keys as in package.json without the `dise.` prefix). Unknown keys are ignored.
 */
export function toServerSettings(explicit: SettingsObject): SettingsObject {
  const out: SettingsObject = {};
  for (const [key, { path, convert }] of Object.entries(SERVER_SETTINGS)) {
    const value = explicit[key];
    if (isUnset(value)) {
      continue;
    }
    if (key === "generators" && (typeof value !== "object" || Array.isArray(value) || Object.keys(value as object).length === 0)) {
      continue;
    }
    const cleaned = typeof value === "string" ? value.trim() : value;
    setPath(out, path, convert ? convert(cleaned) : cleaned);
  }
  return out;
}

/** The payload for `initializationOptions` and `didChangeConfiguration`: `{"dise": {...}}`. */
export function wrapSection(settings: SettingsObject): SettingsObject {
  return { [SECTION]: settings };
}

/** Whether a change of these keys needs a new server process (a different interpreter). */
export function needsRestart(changedKeys: readonly string[]): boolean {
  return changedKeys.some((key) => LAUNCH_SETTINGS.includes(key));
}

function setPath(target: SettingsObject, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null) {
      node[part] = {};
    }
    node = node[part] as SettingsObject;
  }
  node[path[path.length - 1]] = value;
}
