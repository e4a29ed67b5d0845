// The settings the extension sends, against the real `slipway lsp` (over stdio, with the
// command line `serverCommand` builds): the server accepts them at initialize and on change,
// and they take effect. Skips with a note when no slipway binary is at hand
// ($SLIPWAY_BIN, else the repository's target/debug/slipway).
import { strict as assert } from "node:assert";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as rpc from "vscode-jsonrpc/node";
import { serverCommand, serverSettings } from "../client";

const repo = path.join(__dirname, "..", "..", "..", "..");
const binary = process.env.SLIPWAY_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "debug", "slipway");

interface Diagnostic {
  code?: string | number;
  range: { start: { line: number } };
}

test("the server accepts the extension's settings and applies changes", { timeout: 60000 }, async (t) => {
  if (!fs.existsSync(binary)) {
    t.skip(`no slipway binary at ${binary} (cargo build --bin slipway, or set SLIPWAY_BIN)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-vscode-"));
  const file = path.join(dir, "Dockerfile");
  const text = "FROM alpine:3.20 as build\nCOPY --form=x a /b\n";
  fs.writeFileSync(file, text);
  const uri = "file://" + file;
  const cmd = serverCommand(binary);
  const proc: ChildProcess = spawn(cmd.command, cmd.args, {
    env: { ...process.env, SLIPWAY_ROOT: path.join(dir, "store") },
    stdio: ["pipe", "pipe", "inherit"],
  });
  if (!proc.stdout || !proc.stdin) {
    throw new Error("slipway lsp started without pipes");
  }
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(proc.stdout),
    new rpc.StreamMessageWriter(proc.stdin),
  );
  const published: Diagnostic[][] = [];
  let notify: (() => void) | undefined;
  conn.onNotification("textDocument/publishDiagnostics", (p: { uri: string; diagnostics: Diagnostic[] }) => {
    if (p.uri === uri) {
      published.push(p.diagnostics);
      notify?.();
    }
  });
  conn.onRequest(() => null); // client/registerCapability, workspace/codeLens/refresh, ...
  conn.onNotification(() => undefined); // window/showMessage, logs
  conn.listen();
  const next = (count: number) =>
    new Promise<Diagnostic[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no diagnostics #${count}`)), 20000);
      const check = () => {
        if (published.length >= count) {
          clearTimeout(timer);
          notify = undefined;
          resolve(published[count - 1]);
        }
      };
      notify = check;
      check();
    });
  const codes = (d: Diagnostic[]) => d.map((x) => String(x.code)).sort();
  try {
    const values: Record<string, unknown> = { "check.ignore": ["FromAsCasing"], "check.shellcheck": false };
    const init = await conn.sendRequest<{ serverInfo?: { name: string } }>("initialize", {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      initializationOptions: serverSettings((k) => values[k]),
    });
    assert.equal(init.serverInfo?.name, "slipway");
    await conn.sendNotification("initialized", {});
    await conn.sendNotification("textDocument/didOpen", {
      textDocument: { uri, languageId: "dockerfile", version: 1, text },
    });
    assert.deepEqual(codes(await next(1)), ["slipway::flag::unknown"], "FromAsCasing is ignored");

    // What the extension sends when a setting changes.
    values["check.ignore"] = [];
    values["check.severity"] = { FromAsCasing: "error" };
    await conn.sendNotification("workspace/didChangeConfiguration", {
      settings: { slipway: serverSettings((k) => values[k]) },
    });
    const after = await next(2);
    assert.deepEqual(codes(after), ["FromAsCasing", "slipway::flag::unknown"]);
    await conn.sendRequest("shutdown");
    await conn.sendNotification("exit");
  } finally {
    conn.dispose();
    proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
