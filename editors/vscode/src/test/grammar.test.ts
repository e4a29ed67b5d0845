// The TextMate grammar, tokenized with VS Code's own engine (vscode-textmate + oniguruma):
// directives, flags, heredoc bodies, variables and continuations get the expected scopes.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import * as oniguruma from "vscode-oniguruma";
import * as tm from "vscode-textmate";

const root = path.join(__dirname, "..", "..");
let lines: { text: string; tokens: tm.IToken[] }[] = [];

before(async () => {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new tm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources: string[]) => new oniguruma.OnigScanner(sources),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope: string) => {
      if (scope !== "source.dockerfile.slipway") {
        return null; // source.shell: VS Code has it, the tests do not need it
      }
      const file = path.join(root, "syntaxes", "dockerfile.tmLanguage.json");
      return tm.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.dockerfile.slipway");
  assert.ok(grammar, "the grammar loads");
  const text = fs.readFileSync(path.join(root, "test-fixtures", "heredoc.Dockerfile"), "utf8");
  let stack = tm.INITIAL;
  lines = text
    .split("\n")
    .slice(0, -1)
    .map((line) => {
      const r = grammar.tokenizeLine(line, stack);
      stack = r.ruleStack;
      return { text: line, tokens: r.tokens };
    });
});

/** The scopes of the token at the first occurrence of `needle` on line `n` (0-based). */
function scopes(n: number, needle: string): string[] {
  const line = lines[n];
  const at = line.text.indexOf(needle);
  assert.ok(at >= 0, `${JSON.stringify(needle)} is not on line ${n}: ${line.text}`);
  const token = line.tokens.find((t) => t.startIndex <= at && at < t.endIndex);
  assert.ok(token, `no token at ${n}:${at}`);
  return token.scopes;
}

function has(n: number, needle: string, scope: string): void {
  const s = scopes(n, needle);
  assert.ok(
    s.some((x) => x === scope || x.startsWith(scope + ".")),
    `line ${n} ${JSON.stringify(needle)}: want ${scope}, got ${s.join(" ")}`,
  );
}

function hasNot(n: number, needle: string, scope: string): void {
  const s = scopes(n, needle);
  assert.ok(!s.some((x) => x.startsWith(scope)), `line ${n} ${JSON.stringify(needle)}: unexpected ${scope} in ${s}`);
}

test("parser directives at the top of the file", () => {
  has(0, "syntax", "keyword.control.directive");
  has(0, "docker/dockerfile:1", "string.unquoted.directive-value");
  has(1, "check", "keyword.control.directive");
  has(1, "skip", "variable.parameter.check-option");
  has(1, "error", "variable.parameter.check-option");
  has(1, "StageNameCasing", "string.unquoted.directive-value");
});

test("a directive after the first instruction is a comment", () => {
  has(13, "check", "comment.line.number-sign");
  hasNot(13, "check", "keyword.control.directive");
});

test("instructions, stage names and flags", () => {
  has(2, "FROM", "keyword.other.special-method");
  has(2, "AS", "keyword.other.special-method.as");
  has(2, "build", "entity.name.type.stage");
  has(4, "--mount", "variable.parameter.flag");
  has(4, "type=cache", "string.unquoted.flag-value");
  // Options of the command are not BuildKit flags.
  hasNot(4, "--no-cache", "variable.parameter.flag");
  has(5, "--chmod", "variable.parameter.flag");
});

test("heredoc bodies are not instructions or comments", () => {
  has(5, "<<", "keyword.operator.heredoc");
  has(5, "EOF", "entity.name.tag.heredoc-delimiter");
  has(6, "#!/bin/sh", "string.unquoted.heredoc");
  hasNot(6, "#!/bin/sh", "comment");
  has(7, "echo", "string.unquoted.heredoc");
  hasNot(7, "echo", "keyword.other.special-method");
  has(7, "VERSION", "variable.other");
  has(8, "EOF", "entity.name.tag.heredoc-delimiter");
  // `<<-'SCRIPT'`: quoted delimiter, tab-indented end, a shell body.
  has(9, "SCRIPT", "entity.name.tag.heredoc-delimiter");
  has(10, "set", "meta.embedded.block.shell");
  has(12, "SCRIPT", "entity.name.tag.heredoc-delimiter");
  // After the heredoc, instructions again.
  has(14, "ENV", "keyword.other.special-method");
});

test("variables, strings and continuation lines", () => {
  has(3, "VERSION", "variable.other.assignment");
  has(14, "PATH", "variable.other.assignment");
  has(14, "/opt/bin", "string.quoted.double");
  has(14, "{PATH}", "variable.other");
  has(14, "\\", "constant.character.escape.line-continuation");
  // The continued line still belongs to ENV.
  has(15, "MODE", "variable.other.assignment");
  has(15, "MODE", "meta.instruction.assignments");
});

test("exec form", () => {
  has(16, "CMD", "keyword.other.special-method");
  has(16, "/usr/local/bin/hello", "string.quoted.double");
  has(16, "--verbose", "string.quoted.double");
  hasNot(16, "--verbose", "variable.parameter.flag");
  has(16, "[", "punctuation.definition.array.begin");
});
