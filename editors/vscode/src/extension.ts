// The VS Code side: starts `slipway lsp` with vscode-languageclient, keeps its settings in
// sync, and offers "slipway: plan this Dockerfile" and "slipway: build".
import * as fs from "fs";
import * as os from "os";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import {
  buildArgs,
  formatPlan,
  missingServerMessage,
  needsRestart,
  resolveServerPath,
  serverCommand,
  serverSettings,
  ServerSettings,
} from "./client";

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let serverPath: string | undefined;
let readme: vscode.Uri;

function settings(): ServerSettings {
  const cfg = vscode.workspace.getConfiguration("slipway");
  return serverSettings((key) => cfg.get(key));
}

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function start(): Promise<void> {
  const configured = vscode.workspace.getConfiguration("slipway").get<string>("server.path") ?? "slipway";
  serverPath = resolveServerPath(configured, {
    platform: process.platform,
    env: process.env,
    home: os.homedir(),
    isExecutable,
  });
  if (!serverPath) {
    const message = missingServerMessage(configured);
    output.appendLine(message);
    const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Install Instructions");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "slipway.server.path");
    } else if (choice === "Install Instructions") {
      await vscode.commands.executeCommand("markdown.showPreview", readme);
    }
    return;
  }
  const run = serverCommand(serverPath);
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: "dockerfile" }],
    initializationOptions: settings(),
    outputChannel: output,
  };
  output.appendLine(`starting ${run.command} ${run.args.join(" ")}`);
  client = new LanguageClient("slipway", "slipway", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (e) {
    output.appendLine(`slipway lsp did not start: ${String(e)}`);
    void vscode.window.showErrorMessage(`slipway: the language server did not start (${String(e)}); see the output.`);
    client = undefined;
  }
}

async function stop(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) {
    await c.stop();
  }
}

function dockerfileOfActiveEditor(): vscode.TextDocument | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || doc.languageId !== "dockerfile") {
    void vscode.window.showWarningMessage("slipway: open a Dockerfile first");
    return undefined;
  }
  return doc;
}

async function planDocument(): Promise<void> {
  const doc = dockerfileOfActiveEditor();
  if (!doc) {
    return;
  }
  if (!client) {
    void vscode.window.showErrorMessage("slipway: the language server is not running; see the output");
    output.show(true);
    return;
  }
  if (doc.isDirty) {
    await doc.save();
  }
  try {
    const result = await client.sendRequest("workspace/executeCommand", {
      command: "slipway.plan",
      arguments: [doc.uri.toString()],
    });
    output.appendLine(formatPlan(doc.uri.fsPath, result));
  } catch (e) {
    // The server has already shown its reason (e.g. a base image missing from the store).
    output.appendLine(`slipway plan ${doc.uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  output.show(true);
}

async function build(): Promise<void> {
  const doc = dockerfileOfActiveEditor();
  if (!doc) {
    return;
  }
  if (doc.uri.scheme !== "file") {
    void vscode.window.showWarningMessage("slipway: save the Dockerfile to disk first");
    return;
  }
  if (doc.isDirty) {
    await doc.save();
  }
  const binary = serverPath ?? "slipway";
  const task = new vscode.Task(
    { type: "slipway", file: doc.uri.fsPath },
    vscode.workspace.getWorkspaceFolder(doc.uri) ?? vscode.TaskScope.Workspace,
    "build",
    "slipway",
    new vscode.ProcessExecution(binary, buildArgs(doc.uri.fsPath, settings())),
  );
  await vscode.tasks.executeTask(task);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("slipway");
  readme = vscode.Uri.joinPath(context.extensionUri, "readme.md") // vsce lowercases it;
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("slipway.planDocument", planDocument),
    vscode.commands.registerCommand("slipway.build", build),
    vscode.commands.registerCommand("slipway.showOutput", () => output.show()),
    vscode.commands.registerCommand("slipway.restartServer", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration("slipway")) {
        return;
      }
      if (needsRestart((s) => e.affectsConfiguration(s)) || !client) {
        await stop();
        await start();
      } else {
        // The server reads `{ slipway: settings }`, not VS Code's nested sections.
        await client.sendNotification("workspace/didChangeConfiguration", { settings: { slipway: settings() } });
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
