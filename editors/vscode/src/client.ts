// The extension's logic as plain functions (no `vscode` import), so that node's test
// runner can check it without an editor.
import * as path from "path";

/** The server's settings (lsp/src/config.rs `Settings`, camelCase). */
export interface ServerSettings {
  ignore: string[];
  severity: Record<string, string>;
  experimental: string[];
  shellcheck: boolean;
  shellcheckDelayMs: number;
  diagnosticsDelayMs: number;
  buildArgs: Record<string, string>;
  target?: string;
  codeLens: boolean;
}

/** Reads one setting under `slipway.` (a `WorkspaceConfiguration.get` in the editor). */
export type SettingReader = (key: string) => unknown;

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === "string") {
        out[k] = x;
      } else if (typeof x === "number" || typeof x === "boolean") {
        out[k] = String(x);
      }
    }
  }
  return out;
}

function bool(v: unknown, fallback: boolean): boolean {
  return typeof v === "boolean" ? v : fallback;
}

function millis(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.round(v) : fallback;
}

/**
 * The editor's `slipway.*` settings in the shape the server reads from
 * `initializationOptions` and `workspace/didChangeConfiguration`. Values of the wrong
 * type fall back to the server's defaults rather than making the server reject them all.
 */
export function serverSettings(get: SettingReader): ServerSettings {
  const s: ServerSettings = {
    ignore: strings(get("check.ignore")),
    severity: stringMap(get("check.severity")),
    experimental: strings(get("check.experimental")),
    shellcheck: bool(get("check.shellcheck"), true),
    shellcheckDelayMs: millis(get("check.shellcheckDelayMs"), 300),
    diagnosticsDelayMs: millis(get("check.diagnosticsDelayMs"), 0),
    buildArgs: stringMap(get("build.args")),
    codeLens: bool(get("codeLens.cache"), true),
  };
  const target = get("build.target");
  if (typeof target === "string" && target.trim() !== "") {
    s.target = target.trim();
  }
  return s;
}

/** What the resolver needs from the machine (injected so tests need no real files). */
export interface Host {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  home: string;
  isExecutable(file: string): boolean;
}

/** `~` and `~/…` → the home directory. */
export function expandHome(p: string, home: string): string {
  if (p === "~") {
    return home;
  }
  if (p.startsWith("~/") || p.startsWith("~\\")) {
    return path.join(home, p.slice(2));
  }
  return p;
}

/**
 * Where the server binary is: `configured` as a path when it has a separator, else looked
 * up on PATH (with PATHEXT on Windows), then in cargo's install directory (editors started
 * from a desktop often lack `~/.cargo/bin` on their PATH). `undefined` when nowhere.
 */
export function resolveServerPath(configured: string, host: Host): string | undefined {
  const name = expandHome(configured.trim() || "slipway", host.home);
  const p = host.platform === "win32" ? path.win32 : path.posix;
  const exts =
    host.platform === "win32" ? ["", ...(host.env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").filter(Boolean)] : [""];
  const candidates = (file: string) => exts.map((e) => file + e);
  if (name.includes("/") || (host.platform === "win32" && name.includes("\\"))) {
    return candidates(name).find((f) => host.isExecutable(f));
  }
  const dirs = (host.env.PATH ?? host.env.Path ?? "").split(p.delimiter).filter(Boolean);
  const cargoHome = host.env.CARGO_HOME ?? p.join(host.home, ".cargo");
  dirs.push(p.join(cargoHome, "bin"));
  for (const dir of dirs) {
    const found = candidates(p.join(dir, name)).find((f) => host.isExecutable(f));
    if (found) {
      return found;
    }
  }
  return undefined;
}

/** The command line that starts the server over stdio. */
export function serverCommand(binary: string): { command: string; args: string[] } {
  return { command: binary, args: ["lsp", "--stdio"] };
}

/** The message shown (and logged) when the binary cannot be found. */
export function missingServerMessage(configured: string): string {
  const what = configured.trim() || "slipway";
  return (
    `slipway: the language server \`${what}\` was not found ` +
    (what.includes("/") || what.includes("\\") ? "(no executable file there). " : "on PATH or in ~/.cargo/bin. ") +
    "Install it from a slipway checkout with `cargo install --locked --path .`, " +
    "or set `slipway.server.path` to the binary."
  );
}

/** The arguments of `slipway build` for a Dockerfile, with the settings' build args and target. */
export function buildArgs(file: string, settings: ServerSettings): string[] {
  const args = ["build", "-f", file];
  for (const [k, v] of Object.entries(settings.buildArgs)) {
    args.push("--build-arg", `${k}=${v}`);
  }
  if (settings.target) {
    args.push("--target", settings.target);
  }
  args.push(path.dirname(file));
  return args;
}

/** One step of the server's `slipway.plan` answer. */
export interface PlanStep {
  line: number;
  cached: boolean;
  reasons?: string[];
}

/** A readable plan for the output channel; throws on an answer of the wrong shape. */
export function formatPlan(file: string, result: unknown): string {
  if (!Array.isArray(result)) {
    throw new Error(`unexpected answer to slipway.plan: ${JSON.stringify(result)}`);
  }
  const steps = result as PlanStep[];
  const hits = steps.filter((s) => s.cached).length;
  const lines = [`slipway plan ${file}: ${steps.length} steps, ${hits} cached, ${steps.length - hits} to rebuild`];
  for (const s of steps) {
    const why = s.reasons && s.reasons.length > 0 ? ` (${s.reasons.join("; ")})` : "";
    lines.push(`  line ${s.line}: ${s.cached ? "cached" : "rebuild"}${why}`);
  }
  return lines.join("\n");
}

/** Whether a configuration change needs the server restarted (rather than told). */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return affects("slipway.server.path");
}
