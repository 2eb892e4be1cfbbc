#!/usr/bin/env node
/**
 * End to end in a real VS Code: code-server (the VS Code workbench with a Node extension host)
 * with the packaged extension installed, driven by Debian's chromium through playwright-core,
 * the way a user works: real keys, real mouse, real `dise serve` with the real embedded model.
 *
 *   generate: Ctrl+. on a stub → the light bulb menu lists "DiSE: Generate …" → run it →
 *      cancellable progress notification → the function body appears (checked on disk,
 *      autosave on) with its "DiSE: fitness" lens;
 *   hover: the real mouse on the function's name → the hover shows its fitness;
 *   status: "DiSE: Show Status" from the palette opens the status page;
 *   commands: the palette commands answer in words where there is nothing to do; Cancel on
 *      the progress notification stops a generation and nothing is written;
 *   better-version (only when the server offers `dise.optimize`, else skipped with the
 *      reason): generate with a weak generator through "DiSE: Generate Function at Cursor"
 *      after a settings change (no restart), make the optimiser quick, "DiSE: Optimize This
 *      Function", wait for the "Better version available" lens (its fitness goes up), "DiSE:
 *      Show Optimized Diff", accept the quick fix → the function is replaced, its doctests
 *      pass and the lens goes away;
 *   cannot-start: dise.pythonPath → a Python without DiSE: the extension restarts on it and
 *      says what to install.
 * Screenshots of each step go to DISE_SCREENSHOTS (docs/screenshots). Results, step by step,
 * go to DISE_E2E_RESULTS as JSON. A part that fails is recorded and the workbench is reset,
 * so the later parts still run and report; the exit status is 0 only when every part that
 * ran passed, and the failed ones are listed at the end.
 *
 * Environment: DISE_CODE_SERVER (binary), DISE_VSIX, DISE_PYTHON (interpreter with dise
 * installed), DISE_MODELS_DIR, DISE_E2E_WORK (scratch dir), DISE_E2E_OPTIMIZE=auto|0|1,
 * DISE_E2E_GENERATE_TIMEOUT_S, DISE_E2E_OPTIMIZE_TIMEOUT_S, DISE_E2E_WEAK_GENERATOR (a
 * configured generator for the first, weak version in the better-version flow; without it
 * the driver starts tests/support/scripted_ollama.py and configures the scripted generator
 * "scripted-weak" of tests/support/weak_setup.py, served through the Ollama API).
 */

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXTENSION_DIR = path.resolve(HERE, "..");
const REPO = path.resolve(EXTENSION_DIR, "..");
const env = process.env;

const options = {
  codeServer: env.DISE_CODE_SERVER || path.join(env.DISE_CODE_SERVER_DIR || path.join(os.homedir(), ".cache/dise-vscode-e2e"), "node_modules/.bin/code-server"),
  vsix: env.DISE_VSIX || path.join(EXTENSION_DIR, "dise.vsix"),
  python: env.DISE_PYTHON || "python3",
  chromium: env.DISE_CHROMIUM || "/usr/bin/chromium",
  modelsDir: env.DISE_MODELS_DIR || path.join(os.homedir(), ".cache/dise-models"),
  screenshots: env.DISE_SCREENSHOTS || path.join(REPO, "docs/screenshots"),
  work: env.DISE_E2E_WORK || fs.mkdtempSync(path.join(os.tmpdir(), "dise-vscode-e2e-")),
  results: env.DISE_E2E_RESULTS || "",
  // The real-model better-version part; DISE_E2E_OPTIMIZE=0 skips it.
  optimize: env.DISE_E2E_OPTIMIZE || "1",
  // Generations run the real model on whatever cores there are: minutes on a loaded 2-core box.
  generateTimeoutMs: Number(env.DISE_E2E_GENERATE_TIMEOUT_S || 600) * 1000,
  optimizeTimeoutMs: Number(env.DISE_E2E_OPTIMIZE_TIMEOUT_S || 900) * 1000,
  uiTimeoutMs: 60_000,
};

const STUB_FILE = "helpers.py";
const STUB = `"""Small helpers."""


def count_vowels(text: str) -> int:
    """Count the vowels (a, e, i, o, u) in text, ignoring case.

    >>> count_vowels("Hello World")
    3
    """
`;
const STUB_NAME = "count_vowels";
// The better-version flow: a stub the weak generator tends to get wrong and the default gets right.
const CANCEL_FILE = "later.py";
const CANCEL_NAME = "reverse_words";
const CANCEL_STUB = `def reverse_words(sentence: str) -> str:
    """Return the words of sentence in reverse order, separated by single spaces."""
`;
const WEAK_NAME = "sum_digit_squares";
const WEAK_FILE = "digits.py";
const WEAK_STUB = `"""Digit helpers."""


def sum_digit_squares(n: int) -> int:
    """Return the sum of the squares of the decimal digits of a non-negative integer n.

    >>> sum_digit_squares(12)
    5
    >>> sum_digit_squares(0)
    0
    >>> sum_digit_squares(99)
    162
    """
`;
// The first version comes from a deliberately weak generator defined in the settings: the
// scripted generator of tests/support/weak_setup.py, an Ollama generator whose server
// (tests/support/scripted_ollama.py, started below) always answers the same wrong function, so it
// fails the doctests on every machine. The hover also proves that \`dise.generators\`,
// \`dise.ollamaHost\` and \`dise.defaultGenerator\` reached the running server.
const WEAK_GENERATOR = env.DISE_E2E_WEAK_GENERATOR || "scripted-weak";
const SCRIPTED_OLLAMA = path.join(REPO, "tests", "support", "scripted_ollama.py");
// A short optimiser run for the test, in the server's own dise.toml: the real, embedded
// Qwen2.5-Coder-0.5B at two temperatures, which finds the better version at the first on this stub.
const QUICK_OPTIMIZER_TOML = `[generators."qwen-0.5b"]
backend = "llamacpp"
max_tokens = 192

[optimize]
experiment_generators = ["qwen-0.5b"]
temperatures = [0.0, 0.3]
approaches = ["plain"]
max_attempts = 2
incremental_max_steps = 0
`;

const started = Date.now();
const results = { parts: {}, steps: [], screenshots: [], seconds: 0, ok: false };

function log(message) {
  const line = `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`;
  console.log(line);
  results.steps.push(line);
}

/** An error that ends a wait at once (the others are retried until the deadline). */
class Fatal extends Error {}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what, timeoutMs, check, intervalMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) {
        return last;
      }
    } catch (error) {
      if (error instanceof Fatal) {
        throw error;
      }
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last instanceof Error ? ` (${last.message})` : ""}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

/** Whether `name` in `file` has a real body now (not only a docstring, `...` or `pass`). */
function hasBody(file, name) {
  const program = [
    "import ast, sys",
    "tree = ast.parse(open(sys.argv[1]).read())",
    "fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == sys.argv[2])",
    "body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]",
    "body = [s for s in body if not isinstance(s, ast.Pass)]",
    "sys.exit(0 if body else 1)",
  ].join("\n");
  return spawnSync(options.python, ["-c", program, file, name]).status === 0;
}

/** The server's commands, from an LSP initialize handshake with `python -m dise.lsp`. */
function serverCommands() {
  return new Promise((resolve) => {
    const child = spawn(options.python, ["-m", "dise.lsp"], { stdio: ["pipe", "pipe", "ignore"], env: serverEnv() });
    let buffer = Buffer.alloc(0);
    const done = (commands) => {
      clearTimeout(timer);
      child.kill();
      resolve(commands);
    };
    const timer = setTimeout(() => done(undefined), 60_000);
    child.on("error", () => done(undefined));
    child.stdout.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const text = buffer.toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const length = /Content-Length: (\d+)/i.exec(text)?.[1];
      if (split >= 0 && length && buffer.length >= Buffer.byteLength(text.slice(0, split + 4)) + Number(length)) {
        const body = buffer.subarray(Buffer.byteLength(text.slice(0, split + 4))).subarray(0, Number(length));
        const message = JSON.parse(body.toString("utf8"));
        done(message.result?.capabilities?.executeCommandProvider?.commands ?? []);
      }
    });
    const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { processId: null, rootUri: null, capabilities: {} } });
    child.stdin.write(`Content-Length: ${Buffer.byteLength(initialize)}\r\n\r\n${initialize}`);
  });
}

function serverEnv() {
  return {
    ...env,
    DISE_HOME: path.join(options.work, "dise-home"),
    DISE_MODELS_DIR: options.modelsDir,
    XDG_CONFIG_HOME: path.join(options.work, "xdg-config"),
    XDG_DATA_HOME: path.join(options.work, "xdg-data"),
  };
}

// -- code-server ----------------------------------------------------------------------------------
function prepareWorkspace() {
  const workspace = path.join(options.work, "workspace");
  const userData = path.join(options.work, "user-data");
  fs.rmSync(workspace, { recursive: true, force: true });
  fs.mkdirSync(path.join(workspace, ".vscode"), { recursive: true });
  fs.writeFileSync(path.join(workspace, STUB_FILE), STUB);
  writeJson(path.join(workspace, ".vscode/settings.json"), {});
  writeJson(path.join(userData, "User/settings.json"), {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    "workbench.colorTheme": "Default Dark Modern",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "chat.commandCenter.enabled": false,
    "security.workspace.trust.enabled": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "git.enabled": false,
    "files.autoSave": "afterDelay",
    "files.autoSaveDelay": 300,
    "editor.minimap.enabled": false,
    "editor.stickyScroll.enabled": false,
    "editor.fontSize": 15,
    "editor.hover.delay": 300,
    "editor.lightbulb.enabled": "on",
    "dise.pythonPath": options.python,
  });
  return { workspace, userData };
}

function installExtension(extensionsDir) {
  const result = spawnSync(options.codeServer, ["--extensions-dir", extensionsDir, "--install-extension", options.vsix],
    { encoding: "utf8", env: serverEnv() });
  if (result.status !== 0) {
    throw new Error(`code-server --install-extension failed: ${result.stderr || result.stdout}`);
  }
  const installed = fs.readdirSync(extensionsDir).filter((name) => name.startsWith("dise.dise-"));
  if (!installed.length) {
    throw new Error(`the extension is not in ${extensionsDir} after installing ${options.vsix}`);
  }
  log(`installed ${path.basename(options.vsix)} → ${installed.join(", ")}`);
}

async function startCodeServer(workspace, userData, extensionsDir) {
  const port = await freePort();
  const logFile = fs.openSync(path.join(options.work, "code-server.log"), "w");
  // Its own process group (detached): code-server's children outlive a plain kill.
  const child = spawn(options.codeServer, [
    "--auth", "none", "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
    "--disable-getting-started-override", "--bind-addr", `127.0.0.1:${port}`,
    "--user-data-dir", userData, "--extensions-dir", extensionsDir, workspace,
  ], { detached: true, stdio: ["ignore", logFile, logFile], env: serverEnv() });
  // Never leave code-server behind: on a signal (the pytest wrapper's timeout) or an exit.
  const stopGroup = () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  };
  process.on("exit", stopGroup);
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      log(`stopped by ${signal}`);
      if (options.results) {
        writeJson(options.results, { ...results, error: `stopped by ${signal}` });
      }
      process.exit(1);
    });
  }
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  await waitFor("code-server to listen", options.uiTimeoutMs, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 300);
  log(`code-server ${port} up`);
  return {
    url,
    stop: stopGroup,
  };
}

// -- the workbench ------------------------------------------------------------------------------
async function shot(page, name) {
  fs.mkdirSync(options.screenshots, { recursive: true });
  const file = path.join(options.screenshots, name);
  await page.screenshot({ path: file });
  results.screenshots.push(file);
  log(`screenshot ${path.relative(REPO, file)}`);
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  await page.keyboard.press("Enter");
  log(`ran "${title}"`);
}

/** Open a workspace file from the Explorer, as a user does (it lists new files at once). */
async function openFile(page, name) {
  const row = page.locator(".explorer-folders-view .monaco-list-row", { hasText: name }).first();
  await row.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  await row.click();
  await page.locator(".tab.active", { hasText: name }).first().waitFor({ timeout: options.uiTimeoutMs });
  await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: options.uiTimeoutMs });
}

function defLine(page, name) {
  return page.locator(".monaco-editor .view-line", { hasText: `def ${name}(` }).first();
}

/** The name token of `def name(` on screen (Monaco renders one span per token). */
function nameToken(page, name) {
  return defLine(page, name).locator("span > span", { hasText: new RegExp(`^${name}$`) }).first();
}

function lens(page, text) {
  return page.locator(".monaco-editor .codelens-decoration", { hasText: text }).first();
}

/** Put the cursor on `def name(` by clicking its name (from the top left: no horizontal scroll). */
async function cursorOn(page, name) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+Home");
  await nameToken(page, name).scrollIntoViewIfNeeded();
  await nameToken(page, name).click();
}

async function closeNotifications(page) {
  await runCommand(page, "Notifications: Clear All Notifications").catch(() => undefined);
}

/** Run an item of the open code action menu with the keyboard, as a user does after Ctrl+. */
async function chooseAction(page, item) {
  for (let i = 0; i < 20 && !(await item.getAttribute("class")).includes("focused"); i++) {
    await page.keyboard.press("ArrowDown");
  }
  await page.keyboard.press("Enter");
}

/** Until `name` has a body on disk; an error notification (the server's refusal) ends it early. */
async function waitForGeneration(page, file, name) {
  const error = page.locator(".notification-toast", { has: page.locator(".codicon-error") }).first();
  await waitFor(`the generated body of ${name} on disk`, options.generateTimeoutMs, async () => {
    if (hasBody(file, name)) {
      return true;
    }
    if (await error.isVisible()) {
      throw new Fatal(`generating ${name} failed: ${(await error.innerText()).replace(/\s+/g, " ")}`);
    }
    return false;
  }, 2000);
}

async function generate(page, file, name, screenshotPrefix) {
  await cursorOn(page, name);
  await page.keyboard.press("Control+.");
  const item = page.locator(".action-widget .monaco-list-row", { hasText: `DiSE: Generate \`${name}\`` }).first();
  await item.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  log(`the code action menu lists "DiSE: Generate \`${name}\`"`);
  if (screenshotPrefix) {
    await shot(page, `${screenshotPrefix}-action.png`);
  }
  await chooseAction(page, item);
  const generateStarted = Date.now();
  const progress = page.locator(".notification-toast", { hasText: "DiSE" }).first();
  await progress.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  log(`progress notification: ${(await progress.innerText()).replace(/\s+/g, " ").slice(0, 120)}`);
  if (screenshotPrefix) {
    await sleep(1500); // the toast slides in
    await shot(page, `${screenshotPrefix}-progress.png`);
  }
  await waitForGeneration(page, file, name);
  log(`${name} generated in ${((Date.now() - generateStarted) / 1000).toFixed(0)} s`);
  await lens(page, "DiSE: fitness").waitFor({ state: "visible", timeout: options.uiTimeoutMs });
}

async function hoverShowsFitness(page, name) {
  const hover = page.locator(".monaco-hover-content", { hasText: "fitness" }).first();
  await waitFor("a hover with the fitness", options.uiTimeoutMs, async () => {
    await page.mouse.move(5, 5);
    await sleep(200);
    await nameToken(page, name).hover();
    await hover.waitFor({ state: "visible", timeout: 5000 });
    return true;
  }, 500);
  return (await hover.innerText()).replace(/\s+/g, " ");
}

/** Wait for a notification containing `text`; its text. */
async function toast(page, text) {
  const item = page.locator(".notification-toast", { hasText: text }).first();
  await item.waitFor({ state: "visible", timeout: options.uiTimeoutMs });
  return (await item.innerText()).replace(/\s+/g, " ");
}

async function setWorkspaceSettings(workspace, values) {
  const file = path.join(workspace, ".vscode/settings.json");
  const current = JSON.parse(fs.readFileSync(file, "utf8"));
  writeJson(file, { ...current, ...values });
  log(`workspace settings: ${JSON.stringify(values)}`);
}

/**
 * Run one part and record its outcome. A failure is recorded with a screenshot, the workbench
 * is reset (`recover`) and the run goes on, so every later part still runs and reports.
 */
async function part(page, name, run, recover) {
  const t0 = Date.now();
  try {
    await run();
    results.parts[name] = { status: "passed", seconds: Math.round((Date.now() - t0) / 1000) };
    log(`PART ${name}: passed`);
  } catch (error) {
    results.parts[name] = { status: "failed", seconds: Math.round((Date.now() - t0) / 1000), error: String(error?.stack || error) };
    log(`PART ${name}: FAILED ${error?.message || error}`);
    const failure = path.join(options.work, `failure-${name}.png`);
    await page.screenshot({ path: failure }).then(() => log(`failure screenshot: ${failure}`), () => undefined);
    await recover().catch((problem) => log(`after ${name}: could not reset the workbench (${problem?.message || problem})`));
  }
}

/** The doctests of `file`, run as a user would (`python -m doctest`): whether they pass. */
function doctestsPass(file) {
  return spawnSync(options.python, ["-m", "doctest", file], { encoding: "utf8", timeout: 60_000 }).status === 0;
}

/** The "old → new" fitness pair of a better-version lens or message. */
function fitnesses(text) {
  const match = /(\d\.\d\d) → (\d\.\d\d)/.exec(text);
  if (!match) {
    throw new Error(`no "old → new" fitness in ${JSON.stringify(text)}`);
  }
  return [Number(match[1]), Number(match[2])];
}

/**
 * Start tests/support/scripted_ollama.py (Ollama's API answering the weak first version); its address,
 * tag and a stop function. It also stops when this process ends (its stdin closes).
 */
function startScriptedOllama() {
  const child = spawn(options.python, [SCRIPTED_OLLAMA], { stdio: ["pipe", "pipe", "inherit"], env: serverEnv() });
  const stop = () => {
    child.stdin.end();
    child.kill();
  };
  process.on("exit", stop);
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`${SCRIPTED_OLLAMA} did not start within 60 s`)), 60_000);
    child.on("error", (error) => reject(error));
    child.on("exit", (code) => reject(new Error(`${SCRIPTED_OLLAMA} exited (${code}) before it served`)));
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        clearTimeout(timer);
        const { host, tag } = JSON.parse(buffer.slice(0, newline));
        log(`scripted Ollama for ${WEAK_GENERATOR} at ${host} (${tag})`);
        resolve({ host, tag, stop });
      }
    });
  });
}

async function main() {
  let scripted;
  fs.mkdirSync(options.work, { recursive: true });
  const { workspace, userData } = prepareWorkspace();
  const extensionsDir = path.join(options.work, "extensions");
  const file = path.join(workspace, STUB_FILE);
  const commands = await serverCommands();
  log(`dise serve offers: ${commands ? commands.join(", ") : "(no answer to initialize)"}`);
  const optimizeSupported = Boolean(commands?.includes("dise.optimize"));
  if (optimizeSupported) {
    fs.mkdirSync(path.join(options.work, "dise-home"), { recursive: true });
    fs.writeFileSync(path.join(options.work, "dise-home", "dise.toml"), QUICK_OPTIMIZER_TOML);
  }
  installExtension(extensionsDir);
  const server = await startCodeServer(workspace, userData, extensionsDir);
  const browser = await chromium.launch({
    executablePath: options.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    page.setDefaultTimeout(options.uiTimeoutMs);
    await page.goto(server.url);
    await page.locator(".monaco-workbench").waitFor({ timeout: options.uiTimeoutMs });
    log("workbench loaded");
    await openFile(page, STUB_FILE);
    // The server's lens above the stub proves the extension started `dise serve`.
    await lens(page, `DiSE: Generate \`${STUB_NAME}\``).waitFor({ state: "visible", timeout: options.generateTimeoutMs });
    log("the extension started the server: the stub has its DiSE lens");
    // After a failed part: no menus or toasts left, the stub file open again.
    const recover = async () => {
      await page.keyboard.press("Escape");
      await page.keyboard.press("Escape");
      await closeNotifications(page);
      await runCommand(page, "View: Close All Editor Groups").catch(() => undefined);
      await openFile(page, STUB_FILE);
    };

    await part(page, "generate", async () => {
      await generate(page, file, STUB_NAME, "generate");
      await closeNotifications(page);
      await cursorOn(page, STUB_NAME);
      await shot(page, "generated.png");
    }, recover);

    await part(page, "hover", async () => {
      const text = await hoverShowsFitness(page, STUB_NAME);
      log(`hover: ${text.slice(0, 160)}`);
      if (!/fitness/.test(text) || !/DiSE/.test(text)) {
        throw new Error(`the hover does not show DiSE's fitness: ${text}`);
      }
      await shot(page, "hover.png");
      await page.mouse.move(5, 5);
    }, recover);

    await part(page, "status", async () => {
      await cursorOn(page, STUB_NAME);
      await runCommand(page, "DiSE: Show Status");
      await page.locator(".tab", { hasText: "DiSE Status" }).first().waitFor({ state: "visible" });
      await sleep(1500); // let the webview paint
      await shot(page, "status.png");
      await runCommand(page, "View: Close All Editor Groups").catch(() => undefined);
      await openFile(page, STUB_FILE);
    }, recover);

    await part(page, "commands", async () => {
      // The palette commands answer in words when there is nothing to do at the cursor.
      await page.keyboard.press("Control+Home");
      await runCommand(page, "DiSE: Generate Function at Cursor");
      await toast(page, "DiSE found no stub");
      await closeNotifications(page);
      await cursorOn(page, STUB_NAME);
      await runCommand(page, "DiSE: Show Optimized Diff");
      const answer = await Promise.race([
        toast(page, "no optimised version to compare").then(() => "message"),
        page.locator(".monaco-diff-editor").first().waitFor({ state: "visible" }).then(() => "diff"),
      ]);
      log(`Show Optimized Diff with one version: ${answer}`);
      await closeNotifications(page);
      if (!optimizeSupported) {
        await cursorOn(page, STUB_NAME);
        await runCommand(page, "DiSE: Optimize This Function");
        await toast(page, "cannot optimise yet");
        await closeNotifications(page);
      }
      // Cancel from the progress notification: the stub stays a stub.
      const cancelFile = path.join(workspace, CANCEL_FILE);
      fs.writeFileSync(cancelFile, CANCEL_STUB);
      await openFile(page, CANCEL_FILE);
      await lens(page, `DiSE: Generate \`${CANCEL_NAME}\``).waitFor({ state: "visible" });
      await cursorOn(page, CANCEL_NAME);
      await page.keyboard.press("Control+.");
      await chooseAction(page, page.locator(".action-widget .monaco-list-row", { hasText: `DiSE: Generate \`${CANCEL_NAME}\`` }).first());
      const progress = page.locator(".notification-toast", { hasText: `generating \`${CANCEL_NAME}\`` }).first();
      await progress.locator(".monaco-button", { hasText: "Cancel" }).click();
      log("clicked Cancel on the progress notification");
      const cancelled = page.locator(".notification-toast", { hasText: "was cancelled" }).first();
      await cancelled.waitFor({ state: "visible", timeout: options.generateTimeoutMs });
      log(`after Cancel: ${(await cancelled.innerText()).replace(/\s+/g, " ")}`);
      if (hasBody(cancelFile, CANCEL_NAME)) {
        throw new Error(`${CANCEL_NAME} was written although its generation was cancelled`);
      }
      await closeNotifications(page);
      await runCommand(page, "View: Close All Editor Groups").catch(() => undefined);
      await openFile(page, STUB_FILE);
    }, recover);

    if (options.optimize === "0" || (options.optimize === "auto" && !optimizeSupported)) {
      const reason = options.optimize === "0"
        ? "DISE_E2E_OPTIMIZE=0 was set"
        : "dise serve does not offer dise.optimize (an older server?)";
      results.parts["better-version"] = { status: "skipped", reason };
      log(`PART better-version: skipped (${reason})`);
    } else {
      await part(page, "better-version", async () => {
        // A weak first version: the generator changes through settings, with no restart.
        // Its own file, so the only lenses on screen are this function's.
        const weakFile = path.join(workspace, WEAK_FILE);
        let weakSettings = {};
        if (!env.DISE_E2E_WEAK_GENERATOR) {
          scripted = await startScriptedOllama();
          weakSettings = {
            "dise.ollamaHost": scripted.host,
            "dise.generators": { [WEAK_GENERATOR]: { backend: "ollama", ollama_model: scripted.tag } },
          };
        }
        await setWorkspaceSettings(workspace, { ...weakSettings, "dise.defaultGenerator": WEAK_GENERATOR });
        fs.writeFileSync(weakFile, WEAK_STUB);
        await openFile(page, WEAK_FILE);
        await lens(page, `DiSE: Generate \`${WEAK_NAME}\``).waitFor({ state: "visible" });
        await cursorOn(page, WEAK_NAME);
        await runCommand(page, "DiSE: Generate Function at Cursor");
        await waitForGeneration(page, weakFile, WEAK_NAME);
        const weakHover = await hoverShowsFitness(page, WEAK_NAME);
        log(`hover: ${weakHover.slice(0, 240)}`);
        if (!weakHover.includes(WEAK_GENERATOR)) {
          throw new Error(`dise.defaultGenerator=${WEAK_GENERATOR} did not reach the running server: ${weakHover}`);
        }
        await page.mouse.move(5, 5);
        const weak = fs.readFileSync(weakFile, "utf8");
        if (doctestsPass(weakFile)) {
          throw new Error(`the test's premise is broken: the weak version of ${WEAK_NAME} passes its doctests`);
        }
        // The optimiser, quick and with the stronger default generator again.
        await setWorkspaceSettings(workspace, {
          "dise.defaultGenerator": "qwen-0.5b",
          "dise.optimizer.idleSeconds": 1,
        });
        await cursorOn(page, WEAK_NAME);
        await runCommand(page, "DiSE: Optimize This Function");
        const better = lens(page, "Better version available");
        await better.waitFor({ state: "visible", timeout: options.optimizeTimeoutMs });
        const lensText = (await better.innerText()).replace(/\s+/g, " ");
        log(`lens: ${lensText}`);
        const [before, after] = fitnesses(lensText);
        if (!(after > before)) {
          throw new Error(`the better version's fitness is not higher: ${lensText}`);
        }
        await closeNotifications(page);
        await cursorOn(page, WEAK_NAME);
        await shot(page, "better-version.png");

        await runCommand(page, "DiSE: Show Optimized Diff");
        await page.locator(".monaco-diff-editor").first().waitFor({ state: "visible" });
        await sleep(1000);
        await shot(page, "better-version-diff.png");
        await runCommand(page, "View: Close All Editor Groups").catch(() => undefined);
        await openFile(page, WEAK_FILE);

        await cursorOn(page, WEAK_NAME);
        await page.keyboard.press("Control+.");
        const accept = page.locator(".action-widget .monaco-list-row", { hasText: "Accept optimized version" }).first();
        await accept.waitFor({ state: "visible" });
        await shot(page, "better-version-accept.png");
        await chooseAction(page, accept);
        await waitFor("the optimised version in the file", options.uiTimeoutMs, () => fs.readFileSync(weakFile, "utf8") !== weak, 1000);
        await waitFor("the lens to go away", options.uiTimeoutMs, async () => (await better.count()) === 0);
        if (!hasBody(weakFile, WEAK_NAME)) {
          throw new Error(`after accepting, ${WEAK_NAME} has no body`);
        }
        if (!doctestsPass(weakFile)) {
          throw new Error(`after accepting, the doctests of ${WEAK_FILE} fail:\n${fs.readFileSync(weakFile, "utf8")}`);
        }
        await cursorOn(page, WEAK_NAME);
        await shot(page, "better-version-accepted.png");
      }, recover);
    }

    await part(page, "cannot-start", async () => {
      // A Python without DiSE: the extension restarts on the new interpreter and says what to run.
      const bare = path.join(options.work, "bare-venv");
      const made = spawnSync(options.python, ["-m", "venv", "--without-pip", "--clear", bare], { encoding: "utf8" });
      if (made.status !== 0) {
        throw new Error(`python -m venv failed: ${made.stderr}`);
      }
      await setWorkspaceSettings(workspace, { "dise.pythonPath": path.join(bare, "bin", "python") });
      const message = await toast(page, "pip install");
      log(`error message: ${message}`);
      if (!/DiSE/.test(message)) {
        throw new Error(`the error does not name DiSE: ${message}`);
      }
      await sleep(1000);
      await shot(page, "cannot-start.png");
    }, async () => undefined);
    results.failed = Object.keys(results.parts).filter((name) => results.parts[name].status === "failed");
    results.ok = results.failed.length === 0;
  } catch (error) {
    const pages = browser.contexts().flatMap((context) => context.pages());
    if (pages.length) {
      const failure = path.join(options.work, "failure.png");
      await pages[0].screenshot({ path: failure }).catch(() => undefined);
      log(`failure screenshot: ${failure}`);
    }
    throw error;
  } finally {
    results.seconds = Math.round((Date.now() - started) / 1000);
    await browser.close().catch(() => undefined);
    server.stop();
    scripted?.stop();
    if (options.results) {
      writeJson(options.results, results);
    }
  }
}

main().then(
  () => {
    if (!results.ok) {
      log(`FAILED parts: ${results.failed.join(", ")} (of ${Object.keys(results.parts).join(", ")}), in ${results.seconds} s`);
      process.exit(1);
    }
    log(`done in ${results.seconds} s`);
    process.exit(0);
  },
  (error) => {
    console.error(error?.stack || String(error));
    console.error(`code-server log: ${path.join(options.work, "code-server.log")}`);
    results.error = String(error?.stack || error);
    if (options.results) {
      writeJson(options.results, results);
    }
    process.exit(1);
  },
);
