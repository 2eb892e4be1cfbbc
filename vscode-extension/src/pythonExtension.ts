/**
 * The interpreter selected in Microsoft's Python extension (ms-python.python), when it is
 * installed: its `environments` API (current) or `settings.getExecutionDetails` (older).
 * Everything is duck-typed: the extension is optional and its API has changed over time.
 */

import * as vscode from "vscode";

export const PYTHON_EXTENSION_ID = "ms-python.python";

/* eslint-disable @typescript-eslint/no-explicit-any */
async function pythonApi(): Promise<any | undefined> {
  const extension = vscode.extensions.getExtension(PYTHON_EXTENSION_ID);
  if (!extension) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined; // a broken Python extension must not stop DiSE
  }
}

export function pythonExtensionInstalled(): boolean {
  return vscode.extensions.getExtension(PYTHON_EXTENSION_ID) !== undefined;
}

/** The selected interpreter's executable for `resource`, or undefined. */
export async function pythonFromExtension(resource?: vscode.Uri): Promise<string | undefined> {
  const api = await pythonApi();
  if (!api) {
    return undefined;
  }
  try {
    const environments = api.environments;
    if (environments?.getActiveEnvironmentPath) {
      const active = environments.getActiveEnvironmentPath(resource);
      const resolved = environments.resolveEnvironment ? await environments.resolveEnvironment(active) : undefined;
      const executable: string | undefined = resolved?.executable?.uri?.fsPath ?? active?.path;
      if (executable) {
        return executable;
      }
    }
    const command = api.settings?.getExecutionDetails?.(resource)?.execCommand;
    if (Array.isArray(command) && command.length === 1 && typeof command[0] === "string") {
      return command[0];
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Calls `listener` when the user selects another interpreter; a no-op without the extension. */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable> {
  const api = await pythonApi();
  const event = api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
  if (typeof event !== "function") {
    return new vscode.Disposable(() => undefined);
  }
  return event(listener) as vscode.Disposable;
}
