/**
 * DiSE for VS Code: starts `dise serve` (as `python -m dise.lsp`) for Python files through
 * vscode-languageclient, which shows the server's code actions, hovers, code lenses,
 * diagnostics and `$/progress` as VS Code does for any language server. This file adds what
 * LSP has no standard place for: the palette commands, the optimiser's status bar item, the
 * status page, the diff between two stored versions, settings sync, and clear messages when
 * the server cannot start. The logic lives in the pure modules beside it.
 */

import * as cp from "child_process";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import {
  ARTIFACT_SCHEME,
  ActionLike,
  NodeStatus,
  OPTIMIZE_UNSUPPORTED,
  SERVER_COMMANDS,
  artifactDocument,
  artifactUri,
  chooseDiff,
  functionArgs,
  generateActions,
  generateResultMessage,
  noStubMessage,
  optimizeArgs,
  optimizeResultMessage,
  parseArtifactQuery,
  resolvesOnServer,
  serverSupports,
} from "./commands";
import { Launch, ProbeOutcome, StartProblem, chooseLaunch, classifyProbe } from "./launch";
import { showProgressAsNotifications } from "./progress";
import { onInterpreterChange, pythonExtensionInstalled, pythonFromExtension } from "./pythonExtension";
import { LAUNCH_SETTINGS, SECTION, SERVER_SETTINGS, SettingsObject, needsRestart, toServerSettings, wrapSection } from "./settings";
import { ClientPhase, OPTIMIZER_STATE_NOTIFICATION, OptimizerState, statusBarView } from "./statusBar";
import { statusHtml } from "./statusView";

/** Seconds the start-up check (`python -c "import dise.lsp.server"`) may take on a slow machine. */
const PROBE_TIMEOUT_S = 60;
/** How long the "inserted …" message stays in the status bar. */
const RESULT_MESSAGE_MS = 10_000;

let dise: Dise | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  dise = new Dise(context);
  await dise.activate();
}

export async function deactivate(): Promise<void> {
  await dise?.stop();
  dise = undefined;
}

class Dise {
  private client: LanguageClient | undefined;
  private launch: Launch | undefined;
  private phase: ClientPhase = "starting";
  private problem: StartProblem | undefined;
  private optimizer: OptimizerState | undefined;
  private readonly output = vscode.window.createOutputChannel("DiSE");
  private readonly statusItem = vscode.window.createStatusBarItem("dise.status", vscode.StatusBarAlignment.Right, 100);
  private statusPanel: vscode.WebviewPanel | undefined;
  private starting: Promise<void> | undefined;
  /** Handlers that belong to the current client; disposed with it. */
  private clientDisposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {}

  async activate(): Promise<void> {
    const { context } = this;
    this.statusItem.name = "DiSE";
    this.statusItem.command = "dise.showStatus";
    this.renderStatus();
    this.statusItem.show();
    const register = (id: string, fn: (...args: any[]) => unknown) =>
      context.subscriptions.push(vscode.commands.registerCommand(id, (...args: any[]) => this.guard(() => fn(...args))));
    register("dise.generateAtCursor", () => this.generateAtCursor());
    register("dise.optimizeFunction", () => this.optimize("function"));
    register("dise.optimizeAll", () => this.optimize("all"));
    register("dise.showStatus", () => this.showStatus());
    register("dise.showOptimizedDiff", (args?: { nodeId?: string; from?: number; to?: number }) => this.showOptimizedDiff(args));
    register("dise.restartServer", () => this.restart());
    context.subscriptions.push(
      this.output,
      this.statusItem,
      vscode.workspace.registerTextDocumentContentProvider(ARTIFACT_SCHEME, {
        provideTextDocumentContent: (uri) => this.artifactText(uri),
      }),
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChange(event)),
      await onInterpreterChange(() => {
        if (!this.setting<string>("pythonPath") && !this.setting<string>("serverPath")) {
          void this.restart();
        }
      }),
    );
    void this.start(); // activation returns at once; commands wait for the start
  }

  // -- server lifecycle ------------------------------------------------------------------------
  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION, vscode.window.activeTextEditor?.document.uri);
  }

  private setting<T>(key: string): T | undefined {
    return this.config().get<T>(key);
  }

  /** The `dise.*` values the user set (not the defaults), mapped for the server. */
  serverSettings(): SettingsObject {
    const config = this.config();
    const explicit: SettingsObject = {};
    for (const key of Object.keys(SERVER_SETTINGS)) {
      const inspected = config.inspect(key);
      const value = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
      if (value !== undefined) {
        explicit[key] = value;
      }
    }
    return toServerSettings(explicit);
  }

  private setPhase(phase: ClientPhase): void {
    this.phase = phase;
    this.renderStatus();
  }

  private renderStatus(): void {
    const view = statusBarView(this.phase, this.optimizer, this.problem?.message);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  async start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    this.problem = undefined;
    this.optimizer = undefined;
    this.setPhase("starting");
    const resource = vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
    const launch = chooseLaunch({
      serverPath: this.setting<string>("serverPath"),
      pythonPath: this.setting<string>("pythonPath"),
      pythonFromExtension: await pythonFromExtension(resource),
      platform: process.platform,
    });
    this.launch = launch;
    this.output.appendLine(`Starting the DiSE server: ${[launch.command, ...launch.args].join(" ")} (${launch.source})`);
    const problem = classifyProbe(launch, await probe(launch), PROBE_TIMEOUT_S);
    if (problem) {
      this.fail(problem);
      return;
    }
    const client = this.createClient(launch);
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      if (this.client === client) {
        this.client = undefined;
      }
      this.fail({
        message: `The DiSE server did not start: ${firstLine(error)}. The DiSE output has the details.`,
        actions: ["showLog", "retry"],
      });
      return;
    }
    if (this.client === client) {
      this.clientDisposables.push(showProgressAsNotifications(client));
      this.setPhase("running");
      this.output.appendLine(`DiSE server running; commands: ${this.serverCommands().join(", ")}`);
    }
  }

  private createClient(launch: Launch): LanguageClient {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      transport: TransportKind.stdio,
      options: { cwd: folder, env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
      ],
      initializationOptions: wrapSection(this.serverSettings()),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        // Only the actions the server marked (Accept: it adds the edit) are resolved on the
        // server; the generate actions run as they came (see resolvesOnServer).
        resolveCodeAction: (item, token, next) => (resolvesOnServer(item as { data?: unknown }) ? next(item, token) : item),
        workspace: {
          // The server asks for its section when a change came without values: answer with
          // the mapped settings, never VS Code's raw `dise.*` object (the keys differ).
          configuration: (params) => params.items.map((item) => (item.section === SECTION ? this.serverSettings() : null)),
        },
      },
    };
    const client = new LanguageClient("dise", "DiSE", serverOptions, clientOptions);
    client.onNotification(OPTIMIZER_STATE_NOTIFICATION, (params: OptimizerState) => {
      this.optimizer = params;
      this.renderStatus();
    });
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        this.setPhase("running");
      } else if (event.newState === State.Stopped && this.phase === "running") {
        this.problem = { message: "the DiSE server stopped; run \"DiSE: Restart Server\"", actions: ["showLog", "retry"] };
        this.setPhase("stopped");
      }
    });
    return client;
  }

  private fail(problem: StartProblem): void {
    this.problem = problem;
    this.setPhase("failed");
    this.output.appendLine(problem.message);
    void this.showProblem(problem);
  }

  private async showProblem(problem: StartProblem): Promise<void> {
    const labels: Record<string, string> = {
      selectInterpreter: "Select Interpreter",
      openSettings: "Open Settings",
      installInTerminal: "Install in Terminal",
      showLog: "Show Log",
      retry: "Retry",
    };
    const actions = problem.actions.filter((a) => a !== "selectInterpreter" || pythonExtensionInstalled());
    const picked = await vscode.window.showErrorMessage(problem.message, ...actions.map((a) => labels[a]));
    const action = actions.find((a) => labels[a] === picked);
    if (action === "selectInterpreter") {
      await vscode.commands.executeCommand("python.setInterpreter");
    } else if (action === "openSettings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "@ext:dise.dise");
    } else if (action === "installInTerminal" && problem.installCommand) {
      const terminal = vscode.window.createTerminal("DiSE install");
      terminal.show();
      terminal.sendText(problem.installCommand, true);
    } else if (action === "showLog") {
      this.output.show(true);
    } else if (action === "retry") {
      await this.restart();
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.clientDisposables.splice(0).forEach((d) => d.dispose());
    if (client) {
      try {
        await client.stop();
      } catch (error) {
        this.output.appendLine(`Stopping the DiSE server: ${firstLine(error)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.starting;
    await this.stop();
    await this.start();
  }

  private onConfigurationChange(event: vscode.ConfigurationChangeEvent): void {
    if (!event.affectsConfiguration(SECTION)) {
      return;
    }
    if (needsRestart(LAUNCH_SETTINGS.filter((key) => event.affectsConfiguration(`${SECTION}.${key}`)))) {
      void this.restart(); // another interpreter: a new process
      return;
    }
    const client = this.client;
    if (!client || !client.isRunning()) {
      if (this.phase === "failed") {
        void this.restart();
      }
      return;
    }
    // Everything else reaches the running server: no restart, no lost state.
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: wrapSection(this.serverSettings()) });
  }

  // -- talking to the server -------------------------------------------------------------------
  private serverCommands(): string[] {
    return this.client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  }

  /** The running client, or undefined after telling the user why there is none. */
  private async requireClient(): Promise<LanguageClient | undefined> {
    await this.starting;
    if (this.client?.isRunning()) {
      return this.client;
    }
    await this.showProblem(this.problem ?? { message: "The DiSE server is not running; run \"DiSE: Restart Server\".", actions: ["retry", "showLog"] });
    return undefined;
  }

  private async execute<T>(command: string, arg?: unknown): Promise<T> {
    const client = this.client;
    if (!client) {
      throw new Error("the DiSE server is not running");
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: arg === undefined ? [] : [arg] }) as Promise<T>;
  }

  private pythonEditor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== "python") {
      void vscode.window.showInformationMessage("DiSE: open a Python file and put the cursor in a function first.");
      return undefined;
    }
    return editor;
  }

  /** Whether the server knows the function at the cursor (its hover is DiSE's). */
  private async diseFunctionAt(editor: vscode.TextEditor): Promise<boolean> {
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      "vscode.executeHoverProvider", editor.document.uri, editor.selection.active);
    return (hovers ?? []).some((hover) => hover.contents.some((part) => {
      const text = typeof part === "string" ? part : "value" in part ? part.value : "";
      return text.includes("**DiSE**");
    }));
  }

  // -- commands --------------------------------------------------------------------------------
  private async guard(run: () => unknown): Promise<void> {
    try {
      await run();
    } catch (error) {
      const message = firstLine(error);
      this.output.appendLine(`DiSE command failed: ${error instanceof Error && error.stack ? error.stack : message}`);
      void vscode.window.showErrorMessage(`DiSE: ${message}`);
    }
  }

  async generateAtCursor(): Promise<void> {
    const editor = this.pythonEditor();
    if (!editor || !(await this.requireClient())) {
      return;
    }
    const found = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
      "vscode.executeCodeActionProvider", editor.document.uri, editor.selection);
    const actions = generateActions((found ?? []).map(asActionLike));
    let chosen: ActionLike | undefined = actions[0];
    if (actions.length > 1) {
      const pick = await vscode.window.showQuickPick(actions.map((a) => a.title), { placeHolder: "What should DiSE generate?" });
      chosen = actions.find((a) => a.title === pick);
      if (!chosen) {
        return;
      }
    }
    if (!chosen?.command) {
      void vscode.window.showInformationMessage(noStubMessage(editor.selection.active.line));
      return;
    }
    const result = await this.execute<Record<string, unknown>>(chosen.command.command, chosen.command.arguments?.[0]);
    const message = generateResultMessage(result);
    if (message) {
      vscode.window.setStatusBarMessage(message, RESULT_MESSAGE_MS);
    }
  }

  async optimize(scope: "function" | "all"): Promise<void> {
    const editor = scope === "function" ? this.pythonEditor() : undefined;
    if ((scope === "function" && !editor) || !(await this.requireClient())) {
      return;
    }
    if (!serverSupports(this.serverCommands(), SERVER_COMMANDS.optimize)) {
      void vscode.window.showWarningMessage(OPTIMIZE_UNSUPPORTED);
      return;
    }
    const args = editor
      ? optimizeArgs("function", editor.document.uri.toString(), editor.selection.active.line)
      : optimizeArgs("all");
    const result = await this.execute<unknown>(SERVER_COMMANDS.optimize, args);
    void vscode.window.showInformationMessage(optimizeResultMessage(result, scope));
  }

  async showStatus(): Promise<void> {
    if (this.phase === "failed" && this.problem) {
      void this.showProblem(this.problem);
    }
    let server: Record<string, unknown> | undefined;
    let node: Record<string, unknown> | undefined;
    if (this.client?.isRunning()) {
      server = await this.execute<Record<string, unknown>>(SERVER_COMMANDS.status);
      const editor = vscode.window.activeTextEditor;
      if (editor?.document.languageId === "python" && (await this.diseFunctionAt(editor))) {
        const answer = await this.execute<Record<string, unknown>>(
          SERVER_COMMANDS.status, functionArgs(editor.document.uri.toString(), editor.selection.active.line));
        node = answer && answer.nodeId ? answer : undefined;
      }
    }
    const html = statusHtml({
      serverCommand: this.launch ? [this.launch.command, ...this.launch.args].join(" ") : "–",
      serverState: this.phase === "running" ? "running" : `${this.phase}${this.problem ? `: ${this.problem.message}` : ""}`,
      server: server as never,
      optimizer: this.optimizer,
      node,
      serverCommands: this.serverCommands(),
    });
    if (!this.statusPanel) {
      this.statusPanel = vscode.window.createWebviewPanel("dise.status", "DiSE Status", vscode.ViewColumn.Beside, { enableScripts: false });
      this.statusPanel.onDidDispose(() => (this.statusPanel = undefined));
    }
    this.statusPanel.webview.html = html;
    this.statusPanel.reveal(vscode.ViewColumn.Beside, true);
  }

  async showOptimizedDiff(args?: { nodeId?: string; from?: number; to?: number }): Promise<void> {
    let status: NodeStatus;
    if (args?.nodeId) {
      if (!(await this.requireClient())) {
        return;
      }
      status = await this.execute<NodeStatus>(SERVER_COMMANDS.status, { nodeId: args.nodeId });
    } else {
      const editor = this.pythonEditor();
      if (!editor || !(await this.requireClient())) {
        return;
      }
      if (!(await this.diseFunctionAt(editor))) {
        void vscode.window.showInformationMessage("DiSE: put the cursor in a function DiSE generated to compare its versions.");
        return;
      }
      status = await this.execute<NodeStatus>(
        SERVER_COMMANDS.status, functionArgs(editor.document.uri.toString(), editor.selection.active.line));
    }
    const choice = chooseDiff(status ?? {}, args);
    if (!choice.ok) {
      void vscode.window.showInformationMessage(choice.message);
      return;
    }
    const left = vscode.Uri.parse(artifactUri(choice.nodeId, choice.from.version, choice.name));
    const right = vscode.Uri.parse(artifactUri(choice.nodeId, choice.to.version, choice.name));
    await vscode.commands.executeCommand("vscode.diff", left, right, choice.title, { preview: true });
  }

  private async artifactText(uri: vscode.Uri): Promise<string> {
    const wanted = parseArtifactQuery(uri.query);
    if (!wanted) {
      return `# DiSE: ${uri.toString()} names no stored version.\n`;
    }
    if (!(await this.requireClient())) {
      return "# DiSE: the server is not running.\n";
    }
    const data = await this.execute<Record<string, unknown>>(SERVER_COMMANDS.showArtifact, wanted);
    return artifactDocument(data ?? {});
  }
}

/** Run the launch's start-up check and report what happened, never throwing. */
function probe(launch: Launch): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    cp.execFile(launch.command, launch.probeArgs, { timeout: PROBE_TIMEOUT_S * 1000, env: process.env },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ exitCode: 0, stdout, stderr });
          return;
        }
        const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        if (err.killed) {
          resolve({ errorCode: "ETIMEDOUT", stdout, stderr });
        } else if (typeof err.code === "string") {
          resolve({ errorCode: err.code, stdout, stderr });
        } else {
          resolve({ exitCode: typeof err.code === "number" ? err.code : 1, stdout, stderr });
        }
      });
  });
}

function asActionLike(item: vscode.CodeAction | vscode.Command): ActionLike {
  if (typeof (item as vscode.Command).command === "string") {
    const command = item as vscode.Command;
    return { title: command.title, command: { command: command.command, arguments: command.arguments } };
  }
  const action = item as vscode.CodeAction;
  return { title: action.title, command: action.command ? { command: action.command.command, arguments: action.command.arguments } : undefined };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split(/\r?\n/)[0] || "unknown error";
}
