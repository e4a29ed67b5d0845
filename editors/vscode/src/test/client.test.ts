// The extension's client logic, without VS Code.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  buildArgs,
  formatPlan,
  Host,
  missingServerMessage,
  needsRestart,
  resolveServerPath,
  serverCommand,
  serverSettings,
} from "../client";

function host(files: string[], env: Record<string, string> = {}, platform: NodeJS.Platform = "linux"): Host {
  return { platform, env, home: "/home/u", isExecutable: (f) => files.includes(f) };
}

test("settings map to the server's shape, with its defaults", () => {
  assert.deepEqual(
    serverSettings(() => undefined),
    {
      ignore: [],
      severity: {},
      experimental: [],
      shellcheck: true,
      shellcheckDelayMs: 300,
      diagnosticsDelayMs: 0,
      buildArgs: {},
      codeLens: true,
    },
  );
  const values: Record<string, unknown> = {
    "check.ignore": ["DL3008", 7, "SC2086"],
    "check.severity": { StageNameCasing: "error", bad: ["x"] },
    "check.experimental": ["InvalidDefinitionDescription"],
    "check.shellcheck": false,
    "check.shellcheckDelayMs": 120.4,
    "check.diagnosticsDelayMs": -5,
    "build.args": { VERSION: "1.2", N: 3 },
    "build.target": " test ",
    "codeLens.cache": false,
  };
  assert.deepEqual(
    serverSettings((k) => values[k]),
    {
      ignore: ["DL3008", "SC2086"],
      severity: { StageNameCasing: "error" },
      experimental: ["InvalidDefinitionDescription"],
      shellcheck: false,
      shellcheckDelayMs: 120,
      diagnosticsDelayMs: 0,
      buildArgs: { VERSION: "1.2", N: "3" },
      target: "test",
      codeLens: false,
    },
  );
});

test("every server setting has a VS Code setting in package.json", () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const props = Object.keys(manifest.contributes.configuration.properties);
  for (const key of [
    "check.ignore",
    "check.severity",
    "check.experimental",
    "check.shellcheck",
    "check.shellcheckDelayMs",
    "check.diagnosticsDelayMs",
    "build.args",
    "build.target",
    "codeLens.cache",
    "server.path",
  ]) {
    assert.ok(props.includes(`slipway.${key}`), `slipway.${key} is contributed`);
  }
  // The server registers `slipway.plan` itself (the client forwards it): ours must differ.
  const commands = manifest.contributes.commands.map((c: { command: string }) => c.command);
  assert.ok(!commands.includes("slipway.plan"), "no clash with the server's command");
  assert.ok(commands.includes("slipway.planDocument") && commands.includes("slipway.build"));
});

test("the server is found on PATH, then in ~/.cargo/bin", () => {
  assert.equal(
    resolveServerPath("slipway", host(["/usr/bin/slipway", "/opt/x/slipway"], { PATH: "/bin:/opt/x:/usr/bin" })),
    "/opt/x/slipway",
  );
  assert.equal(resolveServerPath("slipway", host(["/home/u/.cargo/bin/slipway"], { PATH: "/bin" })), "/home/u/.cargo/bin/slipway");
  assert.equal(
    resolveServerPath("slipway", host(["/c/bin/slipway"], { PATH: "/bin", CARGO_HOME: "/c" })),
    "/c/bin/slipway",
  );
  assert.equal(resolveServerPath("", host(["/bin/slipway"], { PATH: "/bin" })), "/bin/slipway");
  assert.equal(resolveServerPath("slipway", host([], { PATH: "/bin" })), undefined);
});

test("a configured path is used as it is, with ~ expanded", () => {
  assert.equal(resolveServerPath("~/src/slipway/target/debug/slipway", host(["/home/u/src/slipway/target/debug/slipway"])), "/home/u/src/slipway/target/debug/slipway");
  assert.equal(resolveServerPath("/opt/slipway", host(["/usr/bin/slipway"], { PATH: "/usr/bin" })), undefined);
});

test("Windows: PATHEXT and backslashes", () => {
  const h = host(["C:\\tools\\slipway.EXE"], { Path: "C:\\bin;C:\\tools", PATHEXT: ".COM;.EXE" }, "win32");
  assert.equal(resolveServerPath("slipway", h), "C:\\tools\\slipway.EXE");
});

test("server command line and the missing-binary message", () => {
  assert.deepEqual(serverCommand("/usr/bin/slipway"), { command: "/usr/bin/slipway", args: ["lsp", "--stdio"] });
  const m = missingServerMessage("slipway");
  assert.match(m, /`slipway` was not found on PATH/);
  assert.match(m, /cargo install --locked --path \./);
  assert.match(m, /slipway\.server\.path/);
  assert.match(missingServerMessage("/opt/slipway"), /no executable file there/);
});

test("build arguments carry build args and the target", () => {
  const s = serverSettings((k) => ({ "build.args": { A: "1" }, "build.target": "test" })[k]);
  assert.deepEqual(buildArgs("/p/app/Dockerfile", s), [
    "build",
    "-f",
    "/p/app/Dockerfile",
    "--build-arg",
    "A=1",
    "--target",
    "test",
    "/p/app",
  ]);
});

test("plans read as lines; a malformed answer is an error", () => {
  const text = formatPlan("/p/Dockerfile", [
    { line: 1, cached: true, reasons: [] },
    { line: 3, cached: false, reasons: ["a.txt changed"] },
  ]);
  assert.equal(
    text,
    "slipway plan /p/Dockerfile: 2 steps, 1 cached, 1 to rebuild\n  line 1: cached\n  line 3: rebuild (a.txt changed)",
  );
  assert.throws(() => formatPlan("/p/Dockerfile", { error: 1 }), /unexpected answer/);
});

test("only the server path needs a restart", () => {
  assert.equal(needsRestart((s) => s === "slipway.server.path"), true);
  assert.equal(needsRestart((s) => s === "slipway.check.ignore"), false);
});
