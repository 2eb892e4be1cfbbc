/**
 * Reading the selected interpreter out of Microsoft's Python extension's exported API, kept
 * free of the `vscode` module so it is unit-tested against both API shapes: `environments`
 * (current) and `settings.getExecutionDetails` (older). Duck-typed throughout: the extension
 * is optional and its API has changed over time; anything unexpected means "no interpreter".
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function interpreterFromApi(api: any, resource?: unknown): Promise<string | undefined> {
  if (!api) {
    return undefined;
  }
  try {
    const environments = api.environments;
    if (environments?.getActiveEnvironmentPath) {
      const active = environments.getActiveEnvironmentPath(resource);
      const resolved = environments.resolveEnvironment ? await environments.resolveEnvironment(active) : undefined;
      const executable: unknown = resolved?.executable?.uri?.fsPath ?? active?.path;
      if (typeof executable === "string" && executable) {
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

/** The API's "interpreter changed" event, if it has one (either shape). */
export function interpreterChangeEvent(api: any): ((listener: () => void) => unknown) | undefined {
  const event = api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
  return typeof event === "function" ? event : undefined;
}
