import assert from "node:assert/strict";
import { test } from "node:test";

import { statusBarView } from "../src/statusBar";

test("starting, ready and failed servers read differently", () => {
  assert.match(statusBarView("starting").text, /loading~spin.*DiSE/);
  assert.equal(statusBarView("running").text, "$(sparkle) DiSE");
  const failed = statusBarView("failed", undefined, "DiSE is not installed for python3");
  assert.equal(failed.warning, true);
  assert.match(failed.tooltip, /not installed for python3/);
});

test("optimising shows progress and the best fitness", () => {
  const view = statusBarView("running", { state: "optimising", node: "is_valid_email", done: 3, total: 5, best: 0.8912 });
  assert.equal(view.text, "$(sync~spin) DiSE: optimising 3/5 · best 0.89");
  assert.match(view.tooltip, /is_valid_email: 3 of 5 experiments, best fitness 0.89/);
});

test("the American spelling and missing counts are accepted", () => {
  assert.equal(statusBarView("running", { state: "optimizing" }).text, "$(sync~spin) DiSE: optimising");
  assert.equal(statusBarView("running", { state: "optimising", done: 2, total: null }).text, "$(sync~spin) DiSE: optimising 2");
});

test("idle and paused", () => {
  assert.equal(statusBarView("running", { state: "idle", node: null, done: null, total: null, best: null }).text, "$(sparkle) DiSE: idle");
  const paused = statusBarView("running", { state: "paused", node: "slugify" });
  assert.equal(paused.text, "$(debug-pause) DiSE: paused");
  assert.match(paused.tooltip, /paused \(at slugify\)/);
});

test("a stopped server wins over a stale optimiser state", () => {
  assert.equal(statusBarView("stopped", { state: "optimising", done: 1, total: 2 }).text, "$(error) DiSE");
});
