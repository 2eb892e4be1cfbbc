import assert from "node:assert/strict";
import { test } from "node:test";

import {
  artifactDocument,
  artifactUri,
  chooseDiff,
  functionArgs,
  generateActions,
  generateResultMessage,
  optimizeArgs,
  optimizeResultMessage,
  parseArtifactQuery,
  resolvesOnServer,
  serverSupports,
} from "../src/commands";

const uri = "file:///ws/helpers.py";

test("optimise arguments: one function or all", () => {
  assert.deepEqual(optimizeArgs("function", uri, 12), { uri, line: 12 });
  assert.deepEqual(optimizeArgs("all"), { all: true });
  assert.deepEqual(functionArgs(uri, -3), { uri, line: 0 });
  assert.throws(() => optimizeArgs("function"));
});

test("dise.optimize is used only when the server lists it", () => {
  assert.equal(serverSupports(["dise.generate", "dise.status"], "dise.optimize"), false);
  assert.equal(serverSupports(["dise.generate", "dise.optimize"], "dise.optimize"), true);
  assert.equal(serverSupports(undefined, "dise.optimize"), false);
});

test("only DiSE's generate actions are run by the palette command", () => {
  const actions = [
    { title: "Organize imports", command: { command: "python.sortImports" } },
    { title: "DiSE: Generate `add`", command: { command: "dise.generate", arguments: [{ uri, line: 3 }] } },
    { title: "Accept optimized version (v2)" },
  ];
  assert.deepEqual(generateActions(actions).map((a) => a.title), ["DiSE: Generate `add`"]);
});

test("only actions the server marked with data are resolved on the server", () => {
  assert.equal(resolvesOnServer({ data: { dise: "accept", uri, nodeId: "add", version: 2 } }), true);
  assert.equal(resolvesOnServer({}), false);
  assert.equal(resolvesOnServer({ data: null }), false);
});

test("messages after generating and optimising", () => {
  assert.equal(generateResultMessage({ applied: true, artifactId: "add_v1", fitness: 0.934 }), "DiSE: inserted add_v1 · fitness 0.93");
  assert.equal(generateResultMessage({ applied: false, reason: "cancelled" }), undefined);
  assert.equal(optimizeResultMessage({ message: "Optimising add: 5 experiments queued." }, "function"), "Optimising add: 5 experiments queued.");
  assert.equal(optimizeResultMessage({ queued: ["a", "b"] }, "all"), "DiSE queued 2 functions for optimisation.");
  assert.equal(optimizeResultMessage(null, "all"), "DiSE queued all its functions for optimisation.");
});

test("the diff compares the editor's version (or the previous one) with the latest", () => {
  const status = {
    nodeId: "n1", function: "add",
    versions: [{ version: 2, fitness: 0.9 }, { version: 1, fitness: 0.5 }, { version: 3, fitness: 0.95 }],
  };
  const previous = chooseDiff(status);
  assert.ok(previous.ok);
  assert.deepEqual([previous.from.version, previous.to.version, previous.title], [2, 3, "add: v2 (0.90) ↔ v3 (0.95)"]);
  const current = chooseDiff({ ...status, currentVersion: 1 });
  assert.ok(current.ok && current.from.version === 1 && current.to.version === 3);
  const requested = chooseDiff(status, { from: 1, to: 2 });
  assert.ok(requested.ok && requested.from.version === 1 && requested.to.version === 2);
});

test("one version has nothing to compare", () => {
  const choice = chooseDiff({ nodeId: "n1", function: "add", version: 1, fitness: 0.7 });
  assert.equal(choice.ok, false);
  assert.match((choice as { message: string }).message, /add has no optimised version to compare \(v1\) yet/);
  assert.equal(chooseDiff({}).ok, false);
});

test("a stored version round-trips through its document URI", () => {
  const text = artifactUri("node/with space", 2, "add numbers");
  assert.ok(text.startsWith("dise-artifact:/add_numbers.v2.py?"));
  const query = text.slice(text.indexOf("?") + 1);
  assert.deepEqual(parseArtifactQuery(query), { nodeId: "node/with space", version: 2 });
  assert.equal(parseArtifactQuery("node=x&version=zero"), undefined);
  assert.equal(artifactDocument({ code: "def add(a, b):\n    return a + b", artifactId: "add_v2", fitness: 0.91 }),
    "# DiSE add_v2 · fitness 0.91\ndef add(a, b):\n    return a + b\n");
});
