// bnnlang for VS Code: starts the language server `bnnc lsp` (docs/editors.md) for .bnn files.
//
// Plain JavaScript with no build step. The server is the configured command (`bnnlang.server.command`, default
// ["bnnc", "lsp"]) talking LSP over stdin/stdout. Its settings (`bnnlang.data`, `bnnlang.pedantic`) go to it as
// initializationOptions shaped {"bnnlang": {...}}, and again by workspace/didChangeConfiguration whenever they
// change; a changed command restarts the server.
"use strict";

const vscode = require("vscode");
const {
  DidChangeConfigurationNotification,
  LanguageClient,
  TransportKind,
} = require("vscode-languageclient/node");

const SECTION = "bnnlang";
const DEFAULT_COMMAND = ["bnnc", "lsp"];
const INSTALL_HINT = 'Install the server with: pip install "bnnlang[lsp]" (or set bnnlang.server.command).';

let client = null;

/** The server's command line from the settings, falling back to the default when it is not a list of words. */
function serverCommand() {
  const command = vscode.workspace.getConfiguration(SECTION).get("server.command", DEFAULT_COMMAND);
  const ok = Array.isArray(command) && command.length > 0 && command.every((w) => typeof w === "string" && w);
  if (!ok) {
    vscode.window.showWarningMessage(`bnnlang.server.command must be a list of strings; using "${DEFAULT_COMMAND.join(" ")}".`);
    return DEFAULT_COMMAND;
  }
  return command;
}

/** What the server reads (docs/editors.md, "Settings"): {"bnnlang": {"data": {...}, "pedantic": bool}}. */
function serverSettings() {
  const config = vscode.workspace.getConfiguration(SECTION);
  return { [SECTION]: { data: config.get("data", {}), pedantic: config.get("pedantic", false) } };
}

/** The first workspace folder: relative paths in the command and in bnnlang.data are read from there. */
function workspaceFolder() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
}

function createClient() {
  const [command, ...args] = serverCommand();
  const cwd = workspaceFolder();
  const executable = { command, args, transport: TransportKind.stdio, options: cwd ? { cwd } : {} };
  const serverOptions = { run: executable, debug: executable };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "bnn" },
      { scheme: "untitled", language: "bnn" },
    ],
    initializationOptions: serverSettings(),
    outputChannelName: "bnnlang",
  };
  return new LanguageClient("bnnlang", "bnnlang language server", serverOptions, clientOptions);
}

async function startClient() {
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    vscode.window.showErrorMessage(`bnnlang: could not start "${serverCommand().join(" ")}": ${message}. ${INSTALL_HINT}`);
  }
}

async function stopClient() {
  if (client === null) {
    return;
  }
  const old = client;
  client = null;
  try {
    await old.stop();
  } catch (_err) {
    // a server that never started has nothing to stop
  }
}

async function restart() {
  await stopClient();
  await startClient();
}

async function onConfigurationChanged(event) {
  if (event.affectsConfiguration(`${SECTION}.server.command`)) {
    await restart();
    return;
  }
  const changed = ["data", "pedantic"].some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
  if (changed && client !== null && client.isRunning()) {
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings: serverSettings() });
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("bnnlang.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

exports.activate = activate;
exports.deactivate = deactivate;
