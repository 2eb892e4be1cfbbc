/**
 * The interpreter selected in Microsoft's Python extension (ms-python.python), when it is
 * installed (the API is read by ./pythonApi.ts).
 */

import * as vscode from "vscode";

import { interpreterChangeEvent, interpreterFromApi } from "./pythonApi";

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
  return interpreterFromApi(await pythonApi(), resource);
}

/** Calls `listener` when the user selects another interpreter; a no-op without the extension. */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable> {
  const event = interpreterChangeEvent(await pythonApi());
  if (!event) {
    return new vscode.Disposable(() => undefined);
  }
  return event(listener) as vscode.Disposable;
}
