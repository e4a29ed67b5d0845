#!/usr/bin/env python3
"""Writes syntaxes/dockerfile.tmLanguage.json (the grammar is easier to read as Python than
as JSON with doubled backslashes). Run from editors/vscode; the JSON is committed."""
import json

INSTRUCTIONS = "ADD|ARG|CMD|COPY|ENTRYPOINT|ENV|EXPOSE|FROM|HEALTHCHECK|LABEL|MAINTAINER|ONBUILD|RUN|SHELL|STOPSIGNAL|USER|VOLUME|WORKDIR"
# A flag as BuildKit splits them: `--name` or `--name=value` (quotes keep blanks).
FLAG = r"""--[A-Za-z][A-Za-z0-9-]*(?:=(?:"[^"]*"|'[^']*'|[^\s"'\\])*)?"""


def instruction(names, scope_name, patterns):
    """One instruction (optionally after ONBUILD) to the end of its logical line; the
    flags right after the keyword are matched by the begin rule itself."""
    return {
        "name": f"meta.instruction.{scope_name}.dockerfile",
        "begin": r"^\s*(?:((?i:ONBUILD))\s+)?((?i:" + names + r"))(?=\s|$)((?:\s+" + FLAG + r")*)",
        "beginCaptures": {
            "1": {"name": "keyword.other.special-method.onbuild.dockerfile"},
            "2": {"name": "keyword.other.special-method.dockerfile"},
            "3": {"patterns": [{"include": "#flag"}]},
        },
        "end": r"$",
        "patterns": [{"include": "#continuation"}, {"include": "#comment"}] + patterns,
    }


def heredoc(content):
    return {
        "name": "meta.heredoc.dockerfile",
        "begin": r"(<<-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)(\2)",
        "beginCaptures": {
            "1": {"name": "keyword.operator.heredoc.dockerfile"},
            "2": {"name": "punctuation.definition.string.begin.dockerfile"},
            "3": {"name": "entity.name.tag.heredoc-delimiter.dockerfile"},
            "4": {"name": "punctuation.definition.string.end.dockerfile"},
        },
        "end": r"^\t*(\3)(?=\s*$)",
        "endCaptures": {"1": {"name": "entity.name.tag.heredoc-delimiter.dockerfile"}},
        "contentName": content,
        "patterns": [{"include": "#variable"}] + ([{"include": "source.shell"}] if "shell" in content else []),
    }


grammar = {
    "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
    "name": "Dockerfile (slipway)",
    "scopeName": "source.dockerfile.slipway",
    "fileTypes": ["Dockerfile", "Containerfile", "dockerfile", "containerfile"],
    "patterns": [
        {"include": "#directives"},
        {"include": "#comment"},
        instruction("FROM", "from", [
            {
                "match": r"\s(?i:(AS))\s+([^\s$]+)",
                "captures": {
                    "1": {"name": "keyword.other.special-method.as.dockerfile"},
                    "2": {"name": "entity.name.type.stage.dockerfile"},
                },
            },
            {"include": "#variable"},
        ]),
        instruction("RUN", "run", [
            heredoc("meta.embedded.block.shell"),
            {"include": "#exec-form"},
            {"include": "#words"},
        ]),
        instruction("COPY|ADD", "copy", [
            heredoc("string.unquoted.heredoc.dockerfile"),
            {"include": "#exec-form"},
            {"include": "#words"},
        ]),
        instruction("ARG|ENV|LABEL", "assignments", [
            {
                "match": r"(?<=\s)([A-Za-z_][A-Za-z0-9_.-]*)(=)",
                "captures": {
                    "1": {"name": "variable.other.assignment.dockerfile"},
                    "2": {"name": "keyword.operator.assignment.dockerfile"},
                },
            },
            {"include": "#words"},
        ]),
        instruction("CMD|ENTRYPOINT|SHELL|VOLUME|HEALTHCHECK", "exec", [
            {"match": r"(?<=\s)(?i:CMD|NONE)(?=\s|$)", "name": "keyword.other.special-method.dockerfile"},
            {"include": "#exec-form"},
            {"include": "#words"},
        ]),
        instruction("EXPOSE|STOPSIGNAL|USER|WORKDIR|MAINTAINER|ONBUILD", "other", [{"include": "#words"}]),
    ],
    "repository": {
        # Parser directives: only in the comment block that opens the file (BuildKit stops
        # reading directives at the first other line).
        "directives": {
            "name": "meta.directives.dockerfile",
            "begin": r"\A(?=\x{FEFF}?\s*#\s*[A-Za-z]+\s*=)",
            "end": r"^(?!\s*#\s*[A-Za-z]+\s*=)",
            "patterns": [
                {
                    "name": "comment.line.number-sign.directive.dockerfile",
                    "match": r"^(?:\x{FEFF})?\s*(#)\s*((?i:syntax|escape|check))\s*(=)\s*(.*?)\s*$",
                    "captures": {
                        "1": {"name": "punctuation.definition.comment.dockerfile"},
                        "2": {"name": "keyword.control.directive.dockerfile"},
                        "3": {"name": "keyword.operator.assignment.dockerfile"},
                        "4": {
                            "name": "string.unquoted.directive-value.dockerfile",
                            "patterns": [
                                {
                                    "match": r"\b(skip|error)(=)",
                                    "captures": {
                                        "1": {"name": "variable.parameter.check-option.dockerfile"},
                                        "2": {"name": "keyword.operator.assignment.dockerfile"},
                                    },
                                },
                                {"match": r"[;,]", "name": "punctuation.separator.dockerfile"},
                            ],
                        },
                    },
                },
                {"include": "#comment"},
            ],
        },
        "comment": {
            "match": r"^\s*(#).*$",
            "name": "comment.line.number-sign.dockerfile",
            "captures": {"1": {"name": "punctuation.definition.comment.dockerfile"}},
        },
        # `\` (or the escape directive's backtick) at the end of a line continues the
        # instruction on the next one.
        "continuation": {
            "name": "constant.character.escape.line-continuation.dockerfile",
            "begin": r"[\\`](?=\s*$)",
            "end": r"^",
        },
        "flag": {
            "match": r"(--[A-Za-z][A-Za-z0-9-]*)(?:(=)(\S*))?",
            "captures": {
                "1": {"name": "variable.parameter.flag.dockerfile"},
                "2": {"name": "keyword.operator.assignment.dockerfile"},
                "3": {"name": "string.unquoted.flag-value.dockerfile", "patterns": [{"include": "#variable"}]},
            },
        },
        "exec-form": {
            "name": "meta.exec-form.dockerfile",
            "begin": r"(?<=\s)(\[)(?=\s*\")",
            "beginCaptures": {"1": {"name": "punctuation.definition.array.begin.dockerfile"}},
            "end": r"(\])|$",
            "endCaptures": {"1": {"name": "punctuation.definition.array.end.dockerfile"}},
            "patterns": [
                {"include": "#string-double"},
                {"match": r",", "name": "punctuation.separator.array.dockerfile"},
            ],
        },
        "words": {"patterns": [{"include": "#string-double"}, {"include": "#string-single"}, {"include": "#variable"}]},
        "string-double": {
            "name": "string.quoted.double.dockerfile",
            "begin": r"\"",
            "end": r"\"|(?<![\\`])$",
            "patterns": [{"match": r"\\.", "name": "constant.character.escape.dockerfile"}, {"include": "#variable"}],
        },
        "string-single": {"name": "string.quoted.single.dockerfile", "begin": r"'", "end": r"'|(?<![\\`])$"},
        "variable": {
            "patterns": [
                {"match": r"\\\$", "name": "constant.character.escape.dockerfile"},
                {
                    "name": "variable.other.dockerfile",
                    "begin": r"(\$\{)([A-Za-z_][A-Za-z0-9_]*)",
                    "beginCaptures": {
                        "1": {"name": "punctuation.definition.variable.begin.dockerfile"},
                        "2": {"name": "variable.other.name.dockerfile"},
                    },
                    "end": r"\}",
                    "endCaptures": {"0": {"name": "punctuation.definition.variable.end.dockerfile"}},
                    "patterns": [
                        {"match": r":?[-+?]|##?|%%?|//?", "name": "keyword.operator.expansion.dockerfile"},
                        {"include": "#variable"},
                    ],
                },
                {
                    "match": r"(\$)([A-Za-z_][A-Za-z0-9_]*)",
                    "name": "variable.other.dockerfile",
                    "captures": {
                        "1": {"name": "punctuation.definition.variable.dockerfile"},
                        "2": {"name": "variable.other.name.dockerfile"},
                    },
                },
            ]
        },
    },
}

with open("syntaxes/dockerfile.tmLanguage.json", "w") as f:
    json.dump(grammar, f, indent=2)
    f.write("\n")
