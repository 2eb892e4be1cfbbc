/**
 * How the DiSE server is started, and what to tell the user when it cannot be.
 * Pure: the extension runs the probe and passes its outcome here, so every message is
 * unit-tested without a VS Code or a broken Python at hand.
 */

/** Oldest Python DiSE runs on (pyproject.toml: requires-python). */
export const MIN_PYTHON: readonly [number, number] = [3, 10];

/** Exit status the probe uses for "Python too old". */
export const PROBE_TOO_OLD_EXIT = 3;

/**
 * Run by the chosen interpreter before the server starts: prints the version, refuses an
 * old Python, imports the server module (which fails if DiSE or one of its dependencies is
 * missing). Written to parse on Python 2 too, so an ancient default python3 is told clearly.
 */
export const PROBE_PROGRAM = [
  "import sys",
  "sys.stdout.write('%d.%d.%d\\n' % tuple(sys.version_info[:3]))",
  "sys.stdout.flush()",
  `sys.exit(${PROBE_TOO_OLD_EXIT}) if sys.version_info[:2] < (${MIN_PYTHON[0]}, ${MIN_PYTHON[1]}) else None`,
  "import dise.lsp.server",
].join("\n");

export type LaunchSource = "serverPath" | "pythonPath" | "python-extension" | "default";

export interface LaunchInputs {
  /** `dise.serverPath`: the `dise` command. */
  serverPath?: string;
  /** `dise.pythonPath`. */
  pythonPath?: string;
  /** The interpreter the Python extension has selected, if installed and resolved. */
  pythonFromExtension?: string;
  platform: string;
}

export interface Launch {
  command: string;
  args: string[];
  /** The interpreter, when the server runs as `python -m dise.lsp`. */
  python?: string;
  source: LaunchSource;
  /** Arguments that check this launch can work before the server is started. */
  probeArgs: string[];
}

/** The server command: `dise.serverPath`, else a Python (setting, Python extension, PATH). */
export function chooseLaunch(inputs: LaunchInputs): Launch {
  const serverPath = inputs.serverPath?.trim();
  if (serverPath) {
    return { command: serverPath, args: ["serve"], source: "serverPath", probeArgs: ["--version"] };
  }
  const setting = inputs.pythonPath?.trim();
  const fromExtension = inputs.pythonFromExtension?.trim();
  const [python, source]: [string, LaunchSource] = setting
    ? [setting, "pythonPath"]
    : fromExtension
      ? [fromExtension, "python-extension"]
      : [defaultPython(inputs.platform), "default"];
  return {
    command: python,
    args: ["-m", "dise.lsp"],
    python,
    source,
    probeArgs: ["-c", PROBE_PROGRAM],
  };
}

export function defaultPython(platform: string): string {
  return platform === "win32" ? "python" : "python3";
}

/** What running the probe gave. */
export interface ProbeOutcome {
  /** Error code of a failed spawn or a timeout (`ENOENT`, `EACCES`, `ETIMEDOUT`). */
  errorCode?: string;
  exitCode?: number | null;
  stdout: string;
  stderr: string;
}

export type ProblemAction = "selectInterpreter" | "openSettings" | "installInTerminal" | "showLog" | "retry";

export interface StartProblem {
  /** One line: what happened and what to do. */
  message: string;
  actions: ProblemAction[];
  /** The command that installs DiSE for the chosen interpreter, when that is the fix. */
  installCommand?: string;
}

const INSTALL_HINT_SOURCE: Record<LaunchSource, string> = {
  serverPath: "the setting dise.serverPath",
  pythonPath: "the setting dise.pythonPath",
  "python-extension": "the interpreter selected in the Python extension",
  default: "python3 on the PATH",
};

/** Quote a path for a shell command line if it needs it. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export function installCommand(python: string): string {
  return `${shellQuote(python)} -m pip install dise`;
}

/** Turn a failed probe into a message; `undefined` when the server can start. */
export function classifyProbe(launch: Launch, outcome: ProbeOutcome, probeTimeoutS: number): StartProblem | undefined {
  const where = INSTALL_HINT_SOURCE[launch.source];
  const shown = launch.command;
  if (launch.source === "serverPath") {
    return classifyServerProbe(launch, outcome, probeTimeoutS);
  }
  const python = launch.python ?? launch.command;
  const pickOther: ProblemAction[] = ["selectInterpreter", "openSettings"];
  if (outcome.errorCode === "ENOENT") {
    return {
      message: `DiSE cannot start: there is no Python at "${shown}" (${where}). Install Python ${MIN_PYTHON.join(".")} or newer, or set dise.pythonPath to one.`,
      actions: pickOther,
    };
  }
  if (outcome.errorCode === "EACCES") {
    return {
      message: `DiSE cannot start: "${shown}" (${where}) is not executable. Set dise.pythonPath to a Python ${MIN_PYTHON.join(".")}+ interpreter.`,
      actions: pickOther,
    };
  }
  if (outcome.errorCode === "ETIMEDOUT") {
    return {
      message: `DiSE cannot start: "${shown} -c 'import dise'" did not finish within ${probeTimeoutS} s; check that interpreter in a terminal, then run "DiSE: Restart Server".`,
      actions: ["showLog", "retry"],
    };
  }
  if (outcome.errorCode) {
    return {
      message: `DiSE cannot start "${shown}" (${outcome.errorCode}); set dise.pythonPath to a working Python ${MIN_PYTHON.join(".")}+ interpreter.`,
      actions: pickOther,
    };
  }
  if (outcome.exitCode === 0) {
    return undefined;
  }
  const version = outcome.stdout.trim().split(/\r?\n/)[0] ?? "";
  if (outcome.exitCode === PROBE_TOO_OLD_EXIT || isOlderThanMinimum(version) || /SyntaxError/.test(outcome.stderr)) {
    const which = version ? `Python ${version}` : "an old Python";
    return {
      message: `DiSE needs Python ${MIN_PYTHON.join(".")} or newer, but "${shown}" (${where}) is ${which}; select another interpreter or set dise.pythonPath.`,
      actions: pickOther,
    };
  }
  const missing = missingModule(outcome.stderr);
  if (missing?.startsWith("dise.")) {
    const upgrade = `${shellQuote(python)} -m pip install --upgrade dise`;
    return {
      message: `The DiSE installed for "${shown}" has no language server (${missing}); upgrade it with: ${upgrade}.`,
      actions: ["installInTerminal", "showLog"],
      installCommand: upgrade,
    };
  }
  if (missing === "dise") {
    const install = installCommand(python);
    return {
      message: `DiSE is not installed for ${version ? `Python ${version} at ` : ""}"${shown}"; install it with: ${install} (then run "DiSE: Restart Server").`,
      actions: ["installInTerminal", "selectInterpreter"],
      installCommand: install,
    };
  }
  if (missing) {
    const install = `${shellQuote(python)} -m pip install --upgrade dise`;
    return {
      message: `DiSE is installed for "${shown}" but its dependency "${missing}" is missing; reinstall with: ${install}.`,
      actions: ["installInTerminal", "showLog"],
      installCommand: install,
    };
  }
  return {
    message: `DiSE cannot start with "${shown}": ${lastLine(outcome.stderr) || `exit status ${outcome.exitCode}`}. The DiSE output has the details.`,
    actions: ["showLog", "openSettings"],
  };
}

function classifyServerProbe(launch: Launch, outcome: ProbeOutcome, probeTimeoutS: number): StartProblem | undefined {
  const shown = launch.command;
  if (outcome.errorCode === "ENOENT") {
    return {
      message: `DiSE cannot start: "${shown}" (dise.serverPath) was not found. Fix the setting, or clear it to run DiSE with Python (pip install dise).`,
      actions: ["openSettings"],
    };
  }
  if (outcome.errorCode === "EACCES") {
    return { message: `DiSE cannot start: "${shown}" (dise.serverPath) is not executable; fix the setting or clear it.`, actions: ["openSettings"] };
  }
  if (outcome.errorCode === "ETIMEDOUT") {
    return {
      message: `DiSE cannot start: "${shown} --version" did not answer within ${probeTimeoutS} s; check it in a terminal, then run "DiSE: Restart Server".`,
      actions: ["showLog", "retry"],
    };
  }
  if (outcome.errorCode) {
    return { message: `DiSE cannot start "${shown}" (${outcome.errorCode}); fix dise.serverPath or clear it.`, actions: ["openSettings"] };
  }
  if (outcome.exitCode === 0) {
    return undefined;
  }
  return {
    message: `DiSE cannot start: "${shown} --version" failed (${lastLine(outcome.stderr) || `exit status ${outcome.exitCode}`}); reinstall DiSE (pip install --upgrade dise) or fix dise.serverPath.`,
    actions: ["showLog", "openSettings"],
  };
}

/** `"3.8.10"` → true when older than MIN_PYTHON. */
export function isOlderThanMinimum(version: string): boolean {
  const match = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!match) {
    return false;
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1]);
}

/** The module named by a `ModuleNotFoundError` / `ImportError` in a traceback. */
export function missingModule(stderr: string): string | undefined {
  const match = /(?:ModuleNotFoundError|ImportError): No module named '?([\w.]+)'?/.exec(stderr);
  return match?.[1];
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/).filter((line) => line.trim() !== "");
  return lines.length ? lines[lines.length - 1].trim() : "";
}
