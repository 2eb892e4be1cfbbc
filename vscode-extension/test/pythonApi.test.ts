import assert from "node:assert/strict";
import { test } from "node:test";

import { interpreterChangeEvent, interpreterFromApi } from "../src/pythonApi";

test("no Python extension: no interpreter", async () => {
  assert.equal(await interpreterFromApi(undefined), undefined);
});

test("current API: the resolved environment's executable for the resource", async () => {
  const asked: unknown[] = [];
  const api = {
    environments: {
      getActiveEnvironmentPath: (resource: unknown) => {
        asked.push(resource);
        return { id: "venv", path: "/ws/.venv" };
      },
      resolveEnvironment: async (env: { path: string }) => ({ executable: { uri: { fsPath: `${env.path}/bin/python` } } }),
    },
  };
  assert.equal(await interpreterFromApi(api, "file:///ws/a.py"), "/ws/.venv/bin/python");
  assert.deepEqual(asked, ["file:///ws/a.py"]);
});

test("current API, environment not resolvable: its path", async () => {
  const api = { environments: { getActiveEnvironmentPath: () => ({ path: "/usr/bin/python3" }), resolveEnvironment: async () => undefined } };
  assert.equal(await interpreterFromApi(api), "/usr/bin/python3");
});

test("older API: a one-word execCommand is the interpreter; anything else is not", async () => {
  const older = (execCommand: unknown) => ({ settings: { getExecutionDetails: () => ({ execCommand }) } });
  assert.equal(await interpreterFromApi(older(["/opt/py/bin/python"])), "/opt/py/bin/python");
  assert.equal(await interpreterFromApi(older(["conda", "run", "-n", "x", "python"])), undefined);
  assert.equal(await interpreterFromApi(older(undefined)), undefined);
});

test("a broken Python extension means no interpreter, not a crash", async () => {
  const api = { environments: { getActiveEnvironmentPath: () => { throw new Error("not ready"); } } };
  assert.equal(await interpreterFromApi(api), undefined);
  const rejecting = { environments: { getActiveEnvironmentPath: () => ({ path: 42 }), resolveEnvironment: async () => { throw new Error("x"); } } };
  assert.equal(await interpreterFromApi(rejecting), undefined);
});

test("the interpreter-changed event of either API shape", () => {
  const current = () => undefined;
  const older = () => undefined;
  assert.equal(interpreterChangeEvent({ environments: { onDidChangeActiveEnvironmentPath: current } }), current);
  assert.equal(interpreterChangeEvent({ settings: { onDidChangeExecutionDetails: older } }), older);
  assert.equal(interpreterChangeEvent({}), undefined);
  assert.equal(interpreterChangeEvent(undefined), undefined);
});
