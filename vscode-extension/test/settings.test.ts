import assert from "node:assert/strict";
import { test } from "node:test";

import { needsRestart, toServerSettings, wrapSection } from "../src/settings";

test("explicit settings map onto the server's settings object", () => {
  const mapped = toServerSettings({
    backend: "llamacpp",
    ollamaHost: " http://gpu-box:11434 ",
    defaultGenerator: "qwen-1.5b",
    generators: { mine: { backend: "llamacpp", model: "/m.gguf", temperature: 0.2 } },
    "optimizer.enabled": false,
    "optimizer.idleSeconds": 5,
    "optimizer.scheduleHours": 0.5,
    storeScope: "workspace",
    home: "~/dise-data",
  });
  assert.deepEqual(mapped, {
    backend: "llamacpp",
    ollama: { host: "http://gpu-box:11434" },
    pipeline: { default_generator: "qwen-1.5b" },
    generators: { mine: { backend: "llamacpp", model: "/m.gguf", temperature: 0.2 } },
    optimize: { enabled: false, idle_after_s: 5, schedule_interval_s: 1800 },
    storeScope: "workspace",
    home: "~/dise-data",
  });
});

test("nothing set sends nothing, so dise.toml and the environment still apply", () => {
  assert.deepEqual(toServerSettings({}), {});
  assert.deepEqual(toServerSettings({ home: "", ollamaHost: "  ", generators: {} }), {});
});

test("launch settings stay in the editor", () => {
  assert.deepEqual(toServerSettings({ pythonPath: "/usr/bin/python3", serverPath: "dise", backend: "auto" }), { backend: "auto" });
});

test("the payload is wrapped in the dise section the server unwraps", () => {
  assert.deepEqual(wrapSection({ backend: "ollama" }), { dise: { backend: "ollama" } });
});

test("only a new interpreter or server path needs a new process", () => {
  assert.equal(needsRestart(["pythonPath"]), true);
  assert.equal(needsRestart(["serverPath", "backend"]), true);
  assert.equal(needsRestart(["backend", "optimizer.idleSeconds"]), false);
});
