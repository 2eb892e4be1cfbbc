import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

import { PROBE_PROGRAM, chooseLaunch, classifyProbe, installCommand, isOlderThanMinimum, missingModule } from "../src/launch";

const linux = "linux";

test("serverPath wins, then pythonPath, then the Python extension, then python3", () => {
  assert.deepEqual(chooseLaunch({ serverPath: "/opt/dise/bin/dise", pythonPath: "/usr/bin/python3", platform: linux }).args, ["serve"]);
  const setting = chooseLaunch({ pythonPath: " /venv/bin/python ", pythonFromExtension: "/other/python", platform: linux });
  assert.deepEqual([setting.command, setting.args, setting.source], ["/venv/bin/python", ["-m", "dise.lsp"], "pythonPath"]);
  const fromExtension = chooseLaunch({ pythonPath: "", pythonFromExtension: "/other/python", platform: linux });
  assert.deepEqual([fromExtension.command, fromExtension.source], ["/other/python", "python-extension"]);
  assert.equal(chooseLaunch({ platform: linux }).command, "python3");
  assert.equal(chooseLaunch({ platform: "win32" }).command, "python");
});

const python = chooseLaunch({ pythonPath: "/venv/bin/python", platform: linux });

test("a working interpreter is no problem", () => {
  assert.equal(classifyProbe(python, { exitCode: 0, stdout: "3.11.7\n", stderr: "" }, 60), undefined);
});

test("no Python at all", () => {
  const problem = classifyProbe(chooseLaunch({ platform: linux }), { errorCode: "ENOENT", stdout: "", stderr: "" }, 60)!;
  assert.match(problem.message, /no Python at "python3" \(python3 on the PATH\)/);
  assert.match(problem.message, /Install Python 3\.10 or newer, or set dise\.pythonPath/);
  assert.deepEqual(problem.actions, ["selectInterpreter", "openSettings"]);
});

test("DiSE not installed says what to run", () => {
  const stderr = "Traceback (most recent call last):\n  File \"<string>\", line 5, in <module>\nModuleNotFoundError: No module named 'dise'\n";
  const problem = classifyProbe(python, { exitCode: 1, stdout: "3.12.1\n", stderr }, 60)!;
  assert.equal(problem.installCommand, "/venv/bin/python -m pip install dise");
  assert.match(problem.message, /DiSE is not installed for Python 3\.12\.1 at "\/venv\/bin\/python"; install it with: \/venv\/bin\/python -m pip install dise/);
  assert.ok(problem.actions.includes("installInTerminal"));
});

test("a missing dependency and an old DiSE ask for an upgrade", () => {
  const dep = classifyProbe(python, { exitCode: 1, stdout: "3.11.2\n", stderr: "ModuleNotFoundError: No module named 'pygls'" }, 60)!;
  assert.match(dep.message, /dependency "pygls" is missing/);
  assert.equal(dep.installCommand, "/venv/bin/python -m pip install --upgrade dise");
  const old = classifyProbe(python, { exitCode: 1, stdout: "3.11.2\n", stderr: "ModuleNotFoundError: No module named 'dise.lsp'" }, 60)!;
  assert.match(old.message, /has no language server/);
});

test("an old Python is named with its version", () => {
  const problem = classifyProbe(python, { exitCode: 3, stdout: "3.8.10\n", stderr: "" }, 60)!;
  assert.match(problem.message, /needs Python 3\.10 or newer, but "\/venv\/bin\/python" \(the setting dise\.pythonPath\) is Python 3\.8\.10/);
  assert.equal(isOlderThanMinimum("2.7.18"), true);
  assert.equal(isOlderThanMinimum("3.10.0"), false);
});

test("a hanging interpreter and other failures", () => {
  assert.match(classifyProbe(python, { errorCode: "ETIMEDOUT", stdout: "", stderr: "" }, 60)!.message, /did not finish within 60 s/);
  const other = classifyProbe(python, { exitCode: 1, stdout: "3.11.0\n", stderr: "Traceback...\nRuntimeError: boom\n" }, 60)!;
  assert.match(other.message, /cannot start with "\/venv\/bin\/python": RuntimeError: boom/);
});

test("a wrong serverPath", () => {
  const launch = chooseLaunch({ serverPath: "/nope/dise", platform: linux });
  assert.match(classifyProbe(launch, { errorCode: "ENOENT", stdout: "", stderr: "" }, 60)!.message, /"\/nope\/dise" \(dise\.serverPath\) was not found/);
  assert.equal(classifyProbe(launch, { exitCode: 0, stdout: "dise 0.1.0", stderr: "" }, 60), undefined);
});

test("paths with spaces are quoted in the install command", () => {
  assert.equal(installCommand("/Users/me/My Env/bin/python"), "'/Users/me/My Env/bin/python' -m pip install dise");
  assert.equal(missingModule("ImportError: No module named dise"), "dise");
});

test("the probe program runs on a real Python and fails on a missing module", (t) => {
  const which = spawnSync("python3", ["--version"]);
  if (which.error) {
    t.skip("no python3 on this machine");
    return;
  }
  const result = spawnSync("python3", ["-c", PROBE_PROGRAM.replace("dise.lsp.server", "dise_missing_module_for_test")], { encoding: "utf8" });
  const outcome = { exitCode: result.status, stdout: result.stdout, stderr: result.stderr };
  assert.match(outcome.stdout, /^3\.\d+\.\d+/);
  const problem = classifyProbe(chooseLaunch({ pythonPath: "python3", platform: linux }), outcome, 60)!;
  assert.match(problem.message, /dependency "dise_missing_module_for_test" is missing/);
});
