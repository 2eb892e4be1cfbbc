import assert from "node:assert/strict";
import { test } from "node:test";

import { optimizerLine, statusHtml } from "../src/statusView";

test("the status page shows the server, the optimiser and the function", () => {
  const html = statusHtml({
    serverCommand: "python3 -m dise.lsp",
    serverState: "running",
    server: { jobs: [{ target: "`slugify`" }], store: "/home/me/.local/share/dise/store.json", knownFunctions: 2 },
    optimizer: { state: "optimising", node: "add", done: 1, total: 4, best: 0.8 },
    node: { nodeId: "n1", function: "add", fitness: 0.75, quality: 1, latency: 0.0000021, coverage: 1,
      testsPassed: 3, testsTotal: 3, artifactId: "add_v1", phase: "phase1", versions: [{ version: 1, fitness: 0.75 }] },
    serverCommands: ["dise.generate", "dise.status"],
  });
  for (const expected of ["python3 -m dise.lsp", "store.json", "`slugify`", "optimising · node add · 1 of 4 experiments · best fitness 0.80",
    "<h2>add</h2>", "0.75", "2 µs", "100%", "3/3 passed", "v1 (0.75)", "dise.generate, dise.status"]) {
    assert.ok(html.includes(expected), expected);
  }
});

test("model text cannot inject markup", () => {
  const html = statusHtml({ serverCommand: "x", serverState: "running", node: { nodeId: "n", function: "<script>alert(1)</script>" } });
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("&lt;script&gt;"));
  assert.equal(optimizerLine(undefined), "no report from the optimiser yet");
});
