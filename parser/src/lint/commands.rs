//! Rules on the commands a RUN executes: package managers, `cd`, `sudo`,
//! pipes, … Each RUN's script (shell form, heredoc bodies, `["sh", "-c", …]`)
//! is split into commands by [`super::shell_words`]; exec-form RUNs are one
//! command. Findings point at the word at fault through the script's map back
//! to the Dockerfile.

use super::shell_words::{self, Command, Word};
use super::{finding, Cx};
use crate::diagnostics::{Diagnostic, Edit};
use crate::model::Base;
use crate::scripts;
use crate::syntax::{Args, Instruction, Keyword, Span};
use crate::values::{parse_mount, Mount, MountType};
use std::ops::Range;

/// The commands one RUN executes, and how to find them in the Dockerfile.
pub(crate) struct Run {
    /// The instruction (the ONBUILD wrapping it, for `ONBUILD RUN`).
    pub index: usize,
    pub onbuild: bool,
    pub script: shell_words::Script,
    /// How many commands it runs: `script`'s, or for a cmd or PowerShell script (whose
    /// `script` is empty: the POSIX-shell rules do not read it) [`windows_commands`].
    pub commands: usize,
    /// The script as the shell receives it (empty for exec form).
    text: String,
    map: SpanMap,
    /// The command line running the script: SHELL, a heredoc's shebang, or the
    /// exec-form words before the script; empty for a plain exec form.
    shell: Vec<String>,
    /// Cache and tmpfs mount targets.
    cache_mounts: Vec<String>,
    /// Where text can be appended to the script (shell form without heredocs).
    end: Option<usize>,
}

/// How script offsets map to the Dockerfile.
enum SpanMap {
    Script(scripts::Script),
    /// Script offset + this = source offset.
    Offset(usize),
    /// Everything maps to this span (a JSON string with escapes).
    Whole(Span),
}

impl Run {
    /// The source span of a script range.
    fn span(&self, r: Range<usize>) -> Span {
        match &self.map {
            SpanMap::Script(s) => s.source_span(r),
            SpanMap::Offset(o) => o + r.start..o + r.end,
            SpanMap::Whole(span) => span.clone(),
        }
    }

    fn word(&self, w: &Word) -> Span {
        self.span(w.range.clone())
    }

    /// Where to insert text right after a word, if it can be edited.
    fn after(&self, w: &Word) -> Option<usize> {
        (w.literal && !matches!(self.map, SpanMap::Whole(_))).then(|| self.word(w).end)
    }

    /// The span from a command's name through one of its words.
    fn through(&self, c: &Command, w: &Word) -> Span {
        let start = self.word(&c.words[0]).start;
        start..self.word(w).end.max(start)
    }

    fn has_cache_mount(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.cache_mounts.iter().any(|t| wanted(t.trim_end_matches('/')))
    }
}

/// The RUNs of one stage (`scripts`: its RUN scripts), by instruction index after the
/// stage's FROM (`stage.from + 1 + k`). `windows`: the stage runs Windows images, where
/// RUN goes to `cmd /S /C` unless SHELL says otherwise.
pub(crate) fn stage_runs(
    cx: &Cx<'_>,
    stage: &crate::model::Stage,
    scripts: Vec<scripts::Script>,
    windows: bool,
) -> Vec<Option<Run>> {
    let first = stage.from + 1;
    let len = stage.instructions.last().map_or(0, |&i| i + 1 - first);
    let mut out: Vec<Option<Run>> = (0..len).map(|_| None).collect();
    for s in scripts {
        let i = s.instruction;
        if s.shell == ["/bin/sh", "-c"] && windows {
            continue;
        }
        let outer = &cx.file.instructions[i];
        let inst = outer.effective();
        let windows_shell = matches!(s.dialect, "cmd" | "powershell");
        let (script, commands) = if windows_shell {
            let empty = shell_words::Script {
                commands: Vec::new(),
                pipes: Vec::new(),
            };
            (empty, windows_commands(&s.text, s.dialect))
        } else {
            let script = shell_words::split(&s.text);
            let n = script.commands.len();
            (script, n)
        };
        let end = (inst.heredocs.is_empty() && !s.text.trim().is_empty()).then(|| {
            let trimmed = s.text.trim_end().len();
            s.source_span(0..trimmed).end
        });
        out[i - first] = Some(Run {
            index: i,
            onbuild: outer.keyword == Some(Keyword::Onbuild),
            script,
            commands,
            text: s.text.clone(),
            shell: s.shell.clone(),
            cache_mounts: cache_mounts(inst),
            end,
            map: SpanMap::Script(s),
        });
    }
    for &i in &stage.instructions {
        let outer = &cx.file.instructions[i];
        let inst = outer.effective();
        if out[i - first].is_some() || inst.keyword != Some(Keyword::Run) {
            continue;
        }
        let Args::Json(words) = &inst.args else { continue };
        if let Some(run) = exec_form(cx, i, outer, inst, words) {
            out[i - first] = Some(run);
        }
    }
    out
}

/// An exec-form RUN: `["sh", "-c", "script"]` is a script, anything else one command.
fn exec_form(cx: &Cx<'_>, i: usize, outer: &Instruction, inst: &Instruction, words: &[crate::Word]) -> Option<Run> {
    let first = words.first()?;
    let base = first.text.rsplit('/').next().unwrap_or(&first.text);
    let is_shell = matches!(base, "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh");
    // `-c`, or a cluster ending in c (`-ec`), followed by the script.
    let c = words.iter().position(|w| {
        w.text.len() > 1 && w.text.starts_with('-') && !w.text.starts_with("--") && w.text.ends_with('c')
    });
    let verbatim = |w: &crate::Word| {
        cx.text
            .get(w.span.clone())
            .is_some_and(|raw| raw.len() == w.text.len() + 2 && raw[1..raw.len() - 1] == w.text)
    };
    let run = |script: shell_words::Script, text, map, shell| Run {
        index: i,
        onbuild: outer.keyword == Some(Keyword::Onbuild),
        commands: script.commands.len(),
        script,
        text,
        map,
        shell,
        cache_mounts: cache_mounts(inst),
        end: None,
    };
    if let (true, Some(c)) = (is_shell, c) {
        let body = words.get(c + 1)?;
        let map = if verbatim(body) {
            SpanMap::Offset(body.span.start + 1)
        } else {
            SpanMap::Whole(body.span.clone())
        };
        let shell = words[..=c].iter().map(|w| w.text.clone()).collect();
        return Some(run(shell_words::split(&body.text), body.text.clone(), map, shell));
    }
    let command = Command {
        words: words
            .iter()
            .map(|w| {
                let exact = verbatim(w);
                Word {
                    text: w.text.clone(),
                    range: if exact {
                        w.span.start + 1..w.span.end - 1
                    } else {
                        w.span.clone()
                    },
                    literal: exact,
                }
            })
            .collect(),
        heredocs: Vec::new(),
    };
    let script = shell_words::Script {
        commands: vec![command],
        pipes: Vec::new(),
    };
    Some(run(script, String::new(), SpanMap::Offset(0), Vec::new()))
}

/// How many commands a cmd (`dialect` `cmd`) or PowerShell script runs, as far as
/// DL3059 cares: cmd's `&`, `&&`, `||` and `|` (outside quotes, `^` escaping) separate
/// commands, and a `powershell`/`pwsh` command counts the statements of its command
/// text (see [`powershell_statements`]). A Windows stage's `cmd` is often an assumption
/// (the base image's SHELL is unknown here and is PowerShell in many images), so a cmd
/// script counts as many commands as its statements read as PowerShell, if that is more.
pub(crate) fn windows_commands(text: &str, dialect: &str) -> usize {
    if dialect == "powershell" {
        return powershell_statements(text).max(1);
    }
    cmd_commands(text).max(powershell_statements(text))
}

fn cmd_commands(text: &str) -> usize {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if escaped {
            escaped = false;
        } else if c == b'^' && !quoted {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if !quoted && (c == b'&' || c == b'|') {
            pieces.push(&text[start..i]);
            if b.get(i + 1) == Some(&c) {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    pieces.push(&text[start..]);
    pieces
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut words = p.splitn(2, [' ', '\t']);
            let program = words.next().unwrap_or("");
            let name = program
                .rsplit(['\\', '/'])
                .next()
                .unwrap_or(program)
                .to_ascii_lowercase();
            let name = name.strip_suffix(".exe").unwrap_or(&name);
            if !matches!(name, "powershell" | "pwsh") {
                return 1;
            }
            // Options before the command: `-NoProfile`, `-ExecutionPolicy Bypass`, then
            // `-Command`/`-c` (or no flag) and the command text.
            let mut rest = words.next().unwrap_or("").trim_start();
            while rest.starts_with('-') {
                let end = rest.find([' ', '\t']).unwrap_or(rest.len());
                let flag = rest[..end].to_ascii_lowercase();
                rest = rest[end..].trim_start();
                if matches!(flag.as_str(), "-command" | "-c" | "-encodedcommand" | "-e" | "-ec") {
                    break;
                }
                if matches!(
                    flag.as_str(),
                    "-executionpolicy" | "-ep" | "-windowstyle" | "-outputformat" | "-inputformat"
                ) {
                    rest = rest.find([' ', '\t']).map_or("", |e| rest[e..].trim_start());
                }
            }
            let rest = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(rest);
            powershell_statements(rest).max(1)
        })
        .sum()
}

/// The statements of PowerShell text: separated by `;`, new lines, `&&` and `||`
/// outside quotes, brackets and `#` comments (a backtick escapes the next character).
pub(crate) fn powershell_statements(text: &str) -> usize {
    let (mut count, mut current) = (0, false);
    let (mut depth, mut quote, mut escaped, mut comment) = (0usize, None, false, false);
    let mut prev = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if comment {
            if c == '\n' {
                comment = false;
            } else {
                continue;
            }
        }
        if escaped {
            escaped = false;
            current |= c != '\n';
            prev = c;
            continue;
        }
        match (c, quote) {
            ('`', q) if q != Some('\'') => escaped = true,
            ('\'' | '"', None) => {
                quote = Some(c);
                current = true;
            }
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('(' | '{' | '[', None) => {
                depth += 1;
                current = true;
            }
            (')' | '}' | ']', None) => depth = depth.saturating_sub(1),
            ('#', None) if prev.is_whitespace() => comment = true,
            (';' | '\n', None) if depth == 0 => {
                count += usize::from(current);
                current = false;
            }
            ('&' | '|', None) if depth == 0 && chars.peek() == Some(&c) => {
                chars.next();
                count += usize::from(current);
                current = false;
            }
            (c, None) if !c.is_whitespace() => current = true,
            _ => {}
        }
        prev = c;
    }
    count + usize::from(current)
}

/// Whether a stage's base image (not a stage: `None`) is a Windows image
/// (`…/windows/servercore`, `…nanoserver…`).
pub(crate) fn windows_image(base: &Base) -> bool {
    match base {
        Base::Image(image) => {
            let image = image.to_ascii_lowercase();
            ["windows", "nanoserver", "servercore"]
                .iter()
                .any(|w| image.contains(w))
        }
        _ => false,
    }
}

/// Targets of a RUN's cache and tmpfs mounts.
fn cache_mounts(inst: &Instruction) -> Vec<String> {
    inst.flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| parse_mount(f.value.as_deref()?).ok())
        .filter(|m: &Mount| matches!(m.kind, MountType::Cache | MountType::Tmpfs))
        .filter_map(|m| m.target)
        .collect()
}

/// Every per-RUN rule, over RUNs in file order. `no_recommends_configured`: an earlier
/// RUN configured apt not to install recommends (DL3015); returns whether that holds
/// after these RUNs.
pub(crate) fn check(
    cx: &Cx<'_>,
    runs: &[Option<Run>],
    mut no_recommends_configured: bool,
    out: &mut Vec<Diagnostic>,
) -> bool {
    for run in runs.iter().flatten() {
        let env = cx.env_at(run.index);
        let shipped =
            run.onbuild || cx.model.stage_of[run.index].is_some_and(|s| cx.shipped.get(s).copied().unwrap_or(true));
        let r = Rules {
            cx,
            run,
            env: &env,
            shipped,
        };
        r.per_run(out);
        for c in &run.script.commands {
            r.command(c, no_recommends_configured, out);
        }
        if run.text.contains("Install-Recommends") {
            no_recommends_configured = true;
        }
    }
    no_recommends_configured
}

struct Rules<'a> {
    cx: &'a Cx<'a>,
    run: &'a Run,
    env: &'a super::VarsEnv<'a>,
    /// The RUN's stage ends up in an image (clean-up rules only matter there).
    shipped: bool,
}

const POINTLESS: [&str; 10] = [
    "ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig",
];

impl Rules<'_> {
    /// Rules reported once per RUN.
    fn per_run(&self, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        let cmds = &run.script.commands;
        if let Some(c) = cmds.iter().find(|c| c.name() == "cd") {
            out.push(
                finding("DL3003", run.word(&c.words[0]), "Use WORKDIR to switch to a directory")
                    .with_label("`cd` in RUN")
                    .with_help(
                        "set `WORKDIR <dir>` before the RUN; the directory then also applies to later instructions",
                    ),
            );
        }
        if let Some(c) = cmds.iter().find(|c| c.name() == "sudo") {
            out.push(
                finding(
                    "DL3004",
                    run.word(&c.words[0]),
                    "Do not use sudo as it leads to unpredictable behavior",
                )
                .with_label("sudo")
                .with_help(
                    "RUN already runs as the current USER; switch with `USER root`, or use gosu/su-exec at run time",
                ),
            );
        }
        self.apt_lists(out);
        self.clean_after(
            "DL3032",
            &["yum"],
            &["install"],
            "clean all",
            |t| t.starts_with("/var/cache/yum"),
            out,
        );
        self.clean_after(
            "DL3036",
            &["zypper"],
            &["install", "in"],
            "clean",
            |t| t.starts_with("/var/cache/zypp"),
            out,
        );
        self.clean_after(
            "DL3040",
            &["dnf", "microdnf"],
            &[
                "install",
                "in",
                "upgrade",
                "up",
                "upgrade-minimal",
                "up-min",
                "reinstall",
                "rei",
            ],
            "clean all",
            |t| t.contains("/var/cache/libdnf5") || t.contains(".cache/libdnf5") || t.starts_with("/var/cache/dnf"),
            out,
        );
        self.yarn_cache(out);
        self.pipefail(out);
    }

    /// Rules reported per command.
    fn command(&self, c: &Command, no_recommends_configured: bool, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        let name = c.name();
        let base = c.basename();
        if POINTLESS.contains(&base) {
            out.push(
                finding(
                    "DL3001",
                    run.word(&c.words[0]),
                    format!("`{base}` makes no sense in a container build"),
                )
                .with_label("pointless in an image build")
                .with_help("remove it; a build step has no services, terminals or processes to manage"),
            );
        }
        match name {
            "apt-get" => self.apt_get(c, no_recommends_configured, out),
            "apt" => self.apt(c, out),
            "apk" => self.apk(c, out),
            "npm" => self.npm(c, out),
            "gem" => self.gem(c, out),
            "yum" => self.yum(c, out),
            "zypper" => self.zypper(c, out),
            "dnf" | "microdnf" => self.dnf(c, out),
            "useradd" => self.useradd(c, out),
            "wget" => self.wget(c, out),
            "go" => self.go(c, out),
            "ln" => {
                if let Some(w) = c.find_arg(&["/bin/sh"]) {
                    out.push(
                        finding("DL4005", run.word(w), "Use SHELL to change the default shell")
                            .with_label("replaces /bin/sh for every later RUN")
                            .with_help("use `SHELL [\"/bin/bash\", \"-c\"]` instead of linking /bin/sh"),
                    );
                }
            }
            _ => {}
        }
        if let Some(install) = pip_install(c) {
            self.pip(c, install, out);
        }
    }

    /// A finding with a fix inserting `text` after word `w` (when it can be edited).
    fn insert_after(&self, d: Diagnostic, w: &Word, text: &str) -> Diagnostic {
        match self.run.after(w) {
            Some(at) => d.with_fix(
                format!("add `{}`", text.trim()),
                vec![Edit {
                    span: at..at,
                    text: text.into(),
                }],
            ),
            None => d,
        }
    }

    /// The packages named by a word: itself, the word with known variables
    /// expanded, or the words of a known variable it consists of (`$PKGS`);
    /// `None` when it uses an unknown variable or a command substitution.
    fn packages(&self, w: &Word) -> Option<Vec<String>> {
        if !w.text.contains('$') {
            return Some(vec![w.text.clone()]);
        }
        if let Some(name) = var_reference(&w.text) {
            return self
                .env
                .get(name)
                .map(|v| v.split_whitespace().map(str::to_string).collect());
        }
        self.expand(&w.text).map(|x| vec![x])
    }

    /// A word (quotes already removed) with known ARG/ENV variables expanded.
    fn expand(&self, text: &str) -> Option<String> {
        if text.contains("$(") || text.contains('`') {
            return None;
        }
        // Quotes are gone: escape what the lexer would read as quotes or escapes.
        let e = self.cx.lexer.escape;
        let mut escaped = String::with_capacity(text.len());
        for c in text.chars() {
            if c == '"' || c == '\'' || c == e {
                escaped.push(e);
            }
            escaped.push(c);
        }
        self.cx.expand(&escaped, self.env)
    }

    /// One finding per command for unpinned packages: the first at fault is the
    /// span, the others related.
    fn pins(
        &self,
        dl: &str,
        tool: &str,
        words: &[&Word],
        pinned: impl Fn(&str) -> bool,
        help: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let mut bad: Vec<(&Word, String)> = Vec::new();
        for w in words {
            let Some(pkgs) = self.packages(w) else { continue };
            for p in pkgs {
                if !p.is_empty() && !pinned(&p) {
                    bad.push((w, p));
                }
            }
        }
        let Some(((first, _), rest)) = bad.split_first() else {
            return;
        };
        let names: Vec<String> = bad.iter().map(|(_, p)| format!("`{p}`")).collect();
        let mut d = finding(
            dl,
            self.run.word(first),
            format!(
                "Pin versions in {tool}: {} {} no version",
                names.join(", "),
                if bad.len() == 1 { "has" } else { "have" }
            ),
        )
        .with_label(if first.text.contains('$') {
            format!("{} has no version", names[0])
        } else {
            "no version".into()
        })
        .with_help(help.to_string());
        for (w, p) in rest {
            if !std::ptr::eq(*w, *first) {
                d = d.with_related(self.run.word(w), format!("`{p}` has no version"));
            }
        }
        out.push(d);
    }

    fn apt_get(&self, c: &Command, no_recommends_configured: bool, out: &mut Vec<Diagnostic>) {
        let Some(install) = c.find_arg(&["install"]) else {
            return;
        };
        let operands = c.operands(&["t", "target-release", "o", "option", "c", "config-file"]);
        let packages: Vec<&Word> = operands.into_iter().filter(|w| w.text != "install").collect();
        self.pins(
            "DL3008",
            "apt-get install",
            &packages,
            |p| p.contains('=') || p.contains('/') || p.ends_with(".deb"),
            "pin each package: `apt-get install <package>=<version>`",
            out,
        );
        let yes = c.has_flag(&["y", "yes", "qq", "assume-yes"])
            || c.count_flag("q") >= 2
            || c.count_flag("quiet") >= 2
            || c.has_arg("-q=2")
            || c.args().iter().any(|w| w.text.contains("Assume-Yes=true"));
        if !yes {
            let d = finding(
                "DL3014",
                self.run.through(c, install),
                "Use the -y switch to avoid manual input: `apt-get install -y`",
            )
            .with_label("would wait for a confirmation")
            .with_help("add `-y` so the build never waits for an answer");
            out.push(self.insert_after(d, install, " -y"));
        }
        let no_recommends = c.has_flag(&["no-install-recommends"])
            || c.args()
                .iter()
                .any(|w| w.text.contains("Install-Recommends=false") || w.text.contains("Install-Recommends=0"));
        if !no_recommends && !no_recommends_configured {
            let d = finding(
                "DL3015",
                self.run.through(c, install),
                "Avoid additional packages by specifying `--no-install-recommends`",
            )
            .with_label("also installs recommended packages")
            .with_help("add `--no-install-recommends` to install only what is asked for");
            out.push(self.insert_after(d, install, " --no-install-recommends"));
        }
    }

    /// DL3009: `apt-get update` leaves /var/lib/apt/lists in the layer.
    fn apt_lists(&self, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        if !self.shipped {
            return;
        }
        let cmds = &run.script.commands;
        let Some((c, update)) = cmds.iter().find_map(|c| {
            matches!(c.name(), "apt-get" | "apt" | "aptitude")
                .then(|| c.find_arg(&["update"]).map(|u| (c, u)))
                .flatten()
        }) else {
            return;
        };
        let cleans = cmds.iter().any(|c| {
            (matches!(c.name(), "apt-get" | "apt") && c.has_arg("dist-clean"))
                || c.name() == "rm"
                    && c.operands(&[]).iter().any(|w| {
                        w.text.starts_with("/var/lib/apt/lists") || w.text.trim_end_matches('/') == "/var/lib/apt"
                    })
        });
        if cleans || run.has_cache_mount(|t| t.starts_with("/var/lib/apt")) {
            return;
        }
        let mut d = finding(
            "DL3009",
            run.through(c, update),
            "Delete the apt lists (/var/lib/apt/lists) after installing something",
        )
        .with_label("downloads package lists into this layer")
        .with_help("end the RUN with `rm -rf /var/lib/apt/lists/*`, or mount a cache: `--mount=type=cache,target=/var/lib/apt/lists`");
        if let Some(end) = self.appendable() {
            d = d.with_fix(
                "delete the lists at the end of the RUN",
                vec![Edit {
                    span: end..end,
                    text: " && rm -rf /var/lib/apt/lists/*".into(),
                }],
            );
        }
        out.push(d);
    }

    /// Where ` && cmd` can be appended to the script safely.
    fn appendable(&self) -> Option<usize> {
        let t = self.run.text.trim_end();
        let ends_with_operator = t.ends_with(['&', '|', ';', '\\']);
        (!t.contains('#') && !ends_with_operator)
            .then_some(self.run.end)
            .flatten()
    }

    /// DL3032/DL3036/DL3040: a package cache left behind by `tool install`.
    fn clean_after(
        &self,
        dl: &str,
        tools: &[&str],
        installs: &[&str],
        clean: &str,
        mount: impl Fn(&str) -> bool,
        out: &mut Vec<Diagnostic>,
    ) {
        let run = self.run;
        if !self.shipped || run.has_cache_mount(mount) {
            return;
        }
        let cmds = &run.script.commands;
        // Each tool's first install (`dnf install … && microdnf install …` are two), and the
        // clean-up by that same tool after it: `microdnf clean all` does not clean dnf's cache.
        let mut seen: Vec<&str> = Vec::new();
        for (at, c) in cmds.iter().enumerate() {
            let tool = c.name();
            if !tools.contains(&tool) || seen.contains(&tool) {
                continue;
            }
            let Some(sub) = first_operand(c).filter(|w| installs.contains(&w.text.as_str())) else {
                continue;
            };
            seen.push(tool);
            let cleaned = cmds[at + 1..].iter().any(|c| {
                (c.name() == tool && first_operand(c).is_some_and(|w| matches!(w.text.as_str(), "clean" | "cc")))
                    || (c.name() == "rm"
                        && c.operands(&[])
                            .iter()
                            .any(|w| cache_dirs(tool).iter().any(|p| w.text.starts_with(p))))
            });
            if !cleaned {
                self.missing_clean(dl, c, sub, clean, out);
            }
        }
    }

    fn missing_clean(&self, dl: &str, c: &Command, sub: &Word, clean: &str, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        let clean = format!("{} {clean}", c.name());
        let mut d = finding(
            dl,
            run.through(c, sub),
            format!("`{clean}` missing after `{} {}`", c.name(), sub.text),
        )
        .with_label("leaves the package cache in this layer")
        .with_help(format!(
            "end the RUN with `{clean}`, or mount a cache on the package cache directory"
        ));
        if let Some(end) = self.appendable() {
            d = d.with_fix(
                format!("run `{clean}` at the end of the RUN"),
                vec![Edit {
                    span: end..end,
                    text: format!(" && {clean}"),
                }],
            );
        }
        out.push(d);
    }

    /// DL3027: `apt` in a script.
    fn apt(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let name = &c.words[0];
        let mut d = finding(
            "DL3027",
            self.run.word(name),
            "Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead",
        )
        .with_label("apt's interface is not stable for scripts")
        .with_help("use apt-get (or apt-cache to query)");
        let sub = first_operand(c).map(|w| w.text.as_str());
        const SAME_IN_APT_GET: [&str; 10] = [
            "install",
            "update",
            "upgrade",
            "remove",
            "purge",
            "autoremove",
            "dist-upgrade",
            "clean",
            "autoclean",
            "source",
        ];
        if let (Some(s), true) = (sub, name.literal) {
            if SAME_IN_APT_GET.contains(&s) && !matches!(self.run.map, SpanMap::Whole(_)) {
                d = d.with_fix(
                    "use apt-get",
                    vec![Edit {
                        span: self.run.word(name),
                        text: "apt-get".into(),
                    }],
                );
            }
        }
        out.push(d);
    }

    fn apk(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let Some(add) = first_operand(c).filter(|w| w.text == "add") else {
            return;
        };
        let operands = c.operands(&[
            "t",
            "virtual",
            "repository",
            "X",
            "p",
            "root",
            "keys-dir",
            "repositories-file",
            "cache-dir",
            "arch",
        ]);
        let packages: Vec<&Word> = operands.into_iter().skip(1).collect();
        self.pins(
            "DL3018",
            "apk add",
            &packages,
            |p| p.contains(['=', '~', '>', '<']) || p.ends_with(".apk"),
            "pin each package: `apk add <package>=<version>`",
            out,
        );
        let cache_mount = self
            .run
            .has_cache_mount(|t| t.starts_with("/var/cache/apk") || t.starts_with("/etc/apk/cache"));
        if !c.has_flag(&["no-cache"]) && !cache_mount {
            let d = finding(
                "DL3019",
                self.run.through(c, add),
                "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*`",
            )
            .with_label("keeps the package index in this layer")
            .with_help("add `--no-cache`, or mount a cache: `--mount=type=cache,target=/var/cache/apk`");
            out.push(self.insert_after(d, add, " --no-cache"));
        }
    }

    fn pip(&self, c: &Command, install: &Word, out: &mut Vec<Diagnostic>) {
        const WITH_VALUE: [&str; 29] = [
            // pipx's
            "suffix",
            "pip-args",
            "preinstall",
            "abi",
            "b",
            "build",
            "e",
            "editable",
            "extra-index-url",
            "f",
            "find-links",
            "i",
            "index-url",
            "implementation",
            "no-binary",
            "only-binary",
            "platform",
            "prefix",
            "progress-bar",
            "proxy",
            "python",
            "python-version",
            "root",
            "root-user-action",
            "src",
            "t",
            "target",
            "trusted-host",
            "upgrade-strategy",
        ];
        // (`pipx install --spec <spec> <app>`, older pipx: the spec is the package.)
        let requirements = c.has_flag(&["r", "requirement", "c", "constraint", "spec"]) || c.has_arg(".");
        if !requirements {
            let operands = c.operands(&WITH_VALUE);
            let after: Vec<&Word> = operands
                .into_iter()
                .skip_while(|w| !std::ptr::eq(*w, install))
                .skip(1)
                .filter(|w| w.text != "install")
                .collect();
            self.pins(
                "DL3013",
                "pip",
                &after,
                pip_pinned,
                "pin each package: `pip install <package>==<version>`, or install from a requirements file",
                out,
            );
        }
        // DL3042: the wheel cache stays in the layer.
        let wrapper = c.basename().contains("pipx") || c.basename().contains("pipenv");
        let env_off = self.env.get("PIP_NO_CACHE_DIR").is_some_and(|v| !v.is_empty())
            || self.run.text.contains("PIP_NO_CACHE_DIR=");
        let mounted = self
            .run
            .has_cache_mount(|t| t.contains(".cache/pip") || t.ends_with("/.cache"));
        if !wrapper && !env_off && !mounted && !c.has_arg("--no-cache-dir") {
            let d = finding(
                "DL3042",
                self.run.through(c, install),
                "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`",
            )
            .with_label("keeps pip's cache in this layer")
            .with_help("add `--no-cache-dir`, set `ENV PIP_NO_CACHE_DIR=1`, or mount a cache: `--mount=type=cache,target=/root/.cache/pip`");
            out.push(self.insert_after(d, install, " --no-cache-dir"));
        }
    }

    fn npm(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let operands = c.operands(&["loglevel", "registry"]);
        let Some(first) = operands.first() else { return };
        if first.text != "install" && first.text != "i" {
            return;
        }
        let packages: Vec<&Word> = operands[1..].to_vec();
        self.pins(
            "DL3016",
            "npm",
            &packages,
            |p| {
                if ["git://", "git+ssh://", "git+http://", "git+https://"]
                    .iter()
                    .any(|g| p.starts_with(g))
                {
                    p.contains('#')
                } else {
                    [".tar", ".tar.gz", ".tgz"].iter().any(|s| p.ends_with(s))
                        || ["/", "./", "../", "~/"].iter().any(|s| p.starts_with(s))
                        || p.strip_prefix('@')
                            .map_or(p, |scoped| scoped.split_once('/').map_or(scoped, |x| x.1))
                            .contains('@')
                }
            },
            "pin each package: `npm install <package>@<version>`",
            out,
        );
    }

    fn gem(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let operands = c.operands(&[
            "v",
            "version",
            "i",
            "install-dir",
            "n",
            "bindir",
            "s",
            "source",
            "p",
            "http-proxy",
            "platform",
            "P",
            "trust-policy",
            "g",
            "file",
            "build-root",
        ]);
        if !operands.first().is_some_and(|w| w.text == "install" || w.text == "i") || c.has_flag(&["v", "version"]) {
            return;
        }
        // `gem install NAME -- --with-opt-dir=…`: the words after `--` are options for the
        // gem's native extension build, not gems.
        let end = c
            .args()
            .iter()
            .position(|w| w.text == "--")
            .map(|k| c.args()[k].range.start);
        let gems: Vec<&Word> = operands[1..]
            .iter()
            .copied()
            .filter(|w| end.is_none_or(|e| w.range.start < e))
            .collect();
        self.pins(
            "DL3028",
            "gem install",
            &gems,
            |p| p.contains(':'),
            "pin each gem: `gem install <gem>:<version>` or `-v <version>`",
            out,
        );
    }

    fn yum(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let Some(sub) = first_operand(c) else { return };
        if matches!(sub.text.as_str(), "install" | "groupinstall" | "localinstall") && !c.has_flag(&["y", "assumeyes"])
        {
            let d = finding(
                "DL3030",
                self.run.through(c, sub),
                "Use the -y switch to avoid manual input: `yum install -y`",
            )
            .with_label("would wait for a confirmation")
            .with_help("add `-y`");
            out.push(self.insert_after(d, sub, " -y"));
        }
        if sub.text == "install" {
            let packages: Vec<&Word> = c.operands(&[]).into_iter().skip(1).collect();
            self.pins(
                "DL3033",
                "yum install",
                &packages,
                rpm_pinned,
                "pin each package: `yum install -y <package>-<version>`",
                out,
            );
        }
    }

    fn zypper(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let Some(sub) = first_operand(c) else { return };
        let s = sub.text.as_str();
        if matches!(
            s,
            "install" | "in" | "remove" | "rm" | "source-install" | "si" | "patch"
        ) && !c.has_flag(&["non-interactive", "n", "no-confirm", "y"])
        {
            let d = finding(
                "DL3034",
                self.run.through(c, sub),
                "Non-interactive switch missing from `zypper` command: `zypper install -y`",
            )
            .with_label("would wait for a confirmation")
            .with_help("add `--non-interactive` (`-n`) after zypper, or `-y` after the command");
            out.push(self.insert_after(d, &c.words[0], " -n"));
        }
        if matches!(s, "dist-upgrade" | "dup") {
            out.push(
                finding("DL3035", self.run.word(sub), "Do not use `zypper dist-upgrade`")
                    .with_label("upgrades the whole distribution")
                    .with_help("update the base image instead"),
            );
        }
        if matches!(s, "install" | "in") {
            let packages: Vec<&Word> = c.operands(&[]).into_iter().skip(1).collect();
            self.pins(
                "DL3037",
                "zypper install",
                &packages,
                |p| p.contains(['=', '>', '<']) || p.ends_with(".rpm"),
                "pin each package: `zypper install -y <package>=<version>`",
                out,
            );
        }
    }

    fn dnf(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let Some(sub) = first_operand(c) else { return };
        let s = sub.text.as_str();
        if matches!(s, "install" | "groupinstall" | "localinstall") && !c.has_flag(&["y", "assumeyes"]) {
            let d = finding(
                "DL3038",
                self.run.through(c, sub),
                format!("Use the -y switch to avoid manual input: `{} install -y`", c.name()),
            )
            .with_label("would wait for a confirmation")
            .with_help("add `-y`");
            out.push(self.insert_after(d, sub, " -y"));
        }
        if s == "install" {
            let packages: Vec<&Word> = c.operands(&[]).into_iter().skip(1).collect();
            self.pins(
                "DL3041",
                &format!("{} install", c.name()),
                &packages,
                rpm_pinned,
                "pin each package: `dnf install -y <package>-<version>`",
                out,
            );
        }
    }

    /// DL3046: `useradd -u <big uid>` without `-l` fills /var/log/lastlog.
    fn useradd(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        if c.has_flag(&["l", "no-log-init"]) {
            return;
        }
        let args = c.args();
        let uid = args.iter().enumerate().find_map(|(k, w)| {
            let t = w.text.as_str();
            if t == "-u" || t == "--uid" {
                args.get(k + 1).map(|v| (w, v.text.clone()))
            } else if let Some(v) = t.strip_prefix("--uid=") {
                Some((w, v.to_string()))
            } else {
                t.strip_prefix("-u")
                    .filter(|v| !v.is_empty() && !t.starts_with("--"))
                    .map(|v| (w, v.to_string()))
            }
        });
        let Some((flag, uid)) = uid else { return };
        let Some(uid) = self.expand(&uid) else { return };
        if uid.len() <= 5 {
            return;
        }
        let d = finding(
            "DL3046",
            self.run.word(flag),
            format!("`useradd` without flag `-l` and high UID {uid} will result in excessively large image"),
        )
        .with_label("a high UID without -l")
        .with_help("add `-l` (`--no-log-init`) so the sparse lastlog/faillog files are not written");
        out.push(self.insert_after(d, &c.words[0], " -l"));
    }

    fn wget(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let quiet = c.has_flag(&[
            "progress",
            "q",
            "quiet",
            "o",
            "output-file",
            "a",
            "append-output",
            "no-verbose",
        ]) || c.has_arg("-nv");
        if !quiet {
            out.push(
                finding(
                    "DL3047",
                    self.run.word(&c.words[0]),
                    "Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`",
                )
                .with_label("prints a progress bar into the build log")
                .with_help("add `--progress=dot:giga`, `-q` or `-nv`"),
            );
        }
    }

    fn go(&self, c: &Command, out: &mut Vec<Diagnostic>) {
        let operands = c.operands(&[]);
        let Some(sub) = operands.first() else { return };
        let packages: Vec<&Word> = match sub.text.as_str() {
            "install" | "get" => operands[1..].iter().copied().filter(|w| w.text != "tool").collect(),
            "run" => operands.get(1).copied().into_iter().collect(),
            _ => return,
        };
        self.pins(
            "DL3062",
            &format!("go {}", sub.text),
            &packages,
            |p| {
                p == "."
                    || p.starts_with(['/', '.'])
                    || (p.contains('@') && !p.ends_with("@latest") && !p.ends_with("@none"))
            },
            "pin each package: `go install <package>@<version>`",
            out,
        );
    }

    /// DL3060: `yarn install` without `yarn cache clean`.
    fn yarn_cache(&self, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        if !self.shipped || run.has_cache_mount(|t| t.contains(".cache/yarn") || t.ends_with("/.cache")) {
            return;
        }
        let cmds = &run.script.commands;
        let Some((at, c, install)) = cmds.iter().enumerate().find_map(|(k, c)| {
            (c.name() == "yarn")
                .then(|| c.find_arg(&["install"]).map(|w| (k, c, w)))
                .flatten()
        }) else {
            return;
        };
        if cmds[at + 1..]
            .iter()
            .any(|c| c.name() == "yarn" && c.has_arg("cache") && c.has_arg("clean"))
        {
            return;
        }
        let mut d = finding("DL3060", run.through(c, install), "`yarn cache clean` missing after `yarn install` was run")
            .with_label("leaves yarn's cache in this layer")
            .with_help("end the RUN with `yarn cache clean`, or mount a cache: `--mount=type=cache,target=/usr/local/share/.cache/yarn`");
        if let Some(end) = self.appendable() {
            d = d.with_fix(
                "run `yarn cache clean` at the end of the RUN",
                vec![Edit {
                    span: end..end,
                    text: " && yarn cache clean".into(),
                }],
            );
        }
        out.push(d);
    }

    /// DL4006: a pipe whose failure is hidden without `pipefail`.
    fn pipefail(&self, out: &mut Vec<Diagnostic>) {
        let run = self.run;
        let Some(pipe) = run.script.pipes.first() else { return };
        if run.shell.is_empty() || sets_pipefail(&run.shell) {
            return;
        }
        let in_script = run.script.commands.iter().any(|c| {
            c.name() == "set" && c.words[0].range.start < pipe.start && c.has_flag(&["o"]) && c.has_arg("pipefail")
        });
        if in_script {
            return;
        }
        out.push(
            finding(
                "DL4006",
                run.span(pipe.clone()),
                "Set the SHELL option -o pipefail before RUN with a pipe in it",
            )
            .with_label("a failure left of this pipe is ignored")
            .with_help("add `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before the RUN (or `/bin/ash` on Alpine), or start the script with `set -o pipefail`"),
        );
    }
}

/// DL4001 for one RUN of a stage: wget and curl both used (`tools` tracks
/// the first use of each in the stage).
pub(crate) fn wget_and_curl(run: &Run, tools: &mut [Option<Span>; 2], out: &mut Vec<Diagnostic>) {
    let mut first_here: Option<(usize, Span)> = None;
    for c in &run.script.commands {
        let k = match c.basename() {
            "curl" => 0,
            "wget" => 1,
            _ => continue,
        };
        let span = run.word(&c.words[0]);
        if tools[k].is_none() {
            tools[k] = Some(span.clone());
        }
        if first_here.is_none() {
            first_here = Some((k, span));
        }
    }
    let Some((k, span)) = first_here else { return };
    if let (Some(_), Some(other)) = (&tools[k], &tools[1 - k]) {
        let (this, that) = if k == 0 { ("curl", "wget") } else { ("wget", "curl") };
        out.push(
            finding("DL4001", span, "Either use wget or curl but not both")
                .with_label(format!("{this} here"))
                .with_related(other.clone(), format!("{that} here"))
                .with_help(format!("use one download tool in the stage: drop {that} or {this}")),
        );
    }
}

/// DL3010: local archives a stage COPYs in (their file names), to catch a RUN that then
/// extracts them, which `ADD` does by itself.
#[derive(Default)]
pub(crate) struct Archives {
    copied: Vec<(String, Span)>,
    reported: Vec<Span>,
}

impl Archives {
    /// The archives among a COPY's sources, or its destination when that names an archive.
    pub(crate) fn remember(&mut self, args: &Args) {
        let words = args.words();
        let Some((dest, sources)) = words.split_last() else {
            return;
        };
        if is_archive(&dest.text) {
            self.copied.push((file_name(&dest.text).to_string(), dest.span.clone()));
        } else {
            for w in sources.iter().filter(|w| is_archive(&w.text)) {
                self.copied.push((file_name(&w.text).to_string(), w.span.clone()));
            }
        }
    }

    /// Reports each copied archive a command of `run` extracts (`tar -x`, `unzip`, …), once.
    pub(crate) fn extracted_by(&mut self, run: &Run, out: &mut Vec<Diagnostic>) {
        if self.copied.is_empty() {
            return;
        }
        for c in &run.script.commands {
            if !extracts(c) {
                continue;
            }
            let names: Vec<&str> = c.operands(&[]).iter().map(|w| file_name(&w.text)).collect();
            for (name, span) in &self.copied {
                if names.contains(&name.as_str()) && !self.reported.contains(span) {
                    self.reported.push(span.clone());
                    out.push(
                        finding("DL3010", span.clone(), "Use `ADD` for extracting archives into an image")
                            .with_label(format!("`{name}` is extracted in a RUN later"))
                            .with_related(run.word(&c.words[0]), "extracted here")
                            .with_help(format!(
                                "`ADD {name} <dir>` extracts a local archive itself, without keeping the archive in a layer"
                            )),
                    );
                }
            }
        }
    }
}

/// hadolint's archive extensions.
fn is_archive(path: &str) -> bool {
    const EXT: [&str; 15] = [
        ".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz", ".tpz", ".txz",
        ".xz",
    ];
    let p = path.trim_matches(['"', '\'']);
    EXT.iter().any(|e| p.ends_with(e))
}

fn file_name(path: &str) -> &str {
    let p = path.trim_matches(['"', '\'']);
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// `tar -x`/`--extract`/`--get` (also the old `tar xzf` form), or an unpacking tool.
fn extracts(c: &Command) -> bool {
    match c.basename() {
        "tar" => {
            let args = c.args();
            let old_style = args.first().is_some_and(|w| {
                !w.text.starts_with('-') && w.text.contains('x') && w.text.chars().all(|ch| ch.is_ascii_alphabetic())
            });
            old_style || c.has_flag(&["x", "extract", "get"])
        }
        "unzip" | "gunzip" | "bunzip2" | "unlzma" | "unxz" | "zgz" | "uncompress" | "zcat" | "gzcat" => true,
        _ => false,
    }
}

/// The package caches of a tool that `rm` can delete instead of its `clean`.
fn cache_dirs(tool: &str) -> &'static [&'static str] {
    match tool {
        "yum" => &["/var/cache/yum"],
        "dnf" => &["/var/cache/dnf", "/var/cache/libdnf5"],
        // microdnf (ubi-minimal) keeps its metadata in yum's directory, libdnf5's in dnf5.
        "microdnf" => &["/var/cache/yum", "/var/cache/dnf", "/var/cache/libdnf5"],
        "zypper" => &["/var/cache/zypp"],
        _ => &[],
    }
}

/// The first argument that is not an option.
fn first_operand(c: &Command) -> Option<&Word> {
    c.args().iter().find(|w| !w.text.starts_with('-'))
}

/// `$NAME` or `${NAME}` as a whole word: the name.
fn var_reference(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('$')?;
    let name = match rest.strip_prefix('{') {
        Some(r) => r.strip_suffix('}')?,
        None => rest,
    };
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// `pip install` (or `python -m pip install`): the `install` word.
fn pip_install(c: &Command) -> Option<&Word> {
    let base = c.basename();
    let args = c.args();
    // pipx too (hadolint: any `pip*` name but pipenv): `pipx install black` is unpinned.
    if base.starts_with("pip") && !base.starts_with("pipenv") {
        return c.find_arg(&["install"]);
    }
    if base.starts_with("python") {
        let at = args
            .windows(3)
            .position(|w| w[0].text == "-m" && w[1].text == "pip" && w[2].text == "install")?;
        return Some(&args[at + 2]);
    }
    None
}

fn pip_pinned(p: &str) -> bool {
    const VCS: [&str; 5] = ["git+", "hg+", "svn+", "bzr+", "git://"];
    let vcs = VCS.iter().any(|v| p.starts_with(v));
    ["==", ">=", "<=", ">", "<", "!=", "~=", "==="]
        .iter()
        .any(|s| p.contains(s))
        || (vcs && p.contains('@'))
        || p.ends_with(".whl")
        || p.ends_with(".tar.gz")
        || (!vcs && p.contains('/'))
}

/// `name-version` as yum/dnf take it (hadolint's rule): after the first `-`,
/// parts of version characters, one starting with a digit; `.rpm` files.
fn rpm_pinned(p: &str) -> bool {
    if p.ends_with(".rpm") {
        return true;
    }
    let parts: Vec<&str> = p.split('-').collect();
    if parts.len() <= 1 {
        return false;
    }
    let rest = &parts[1..];
    rest.iter()
        .all(|part| part.chars().all(|c| c.is_ascii_alphanumeric() || ".~^_:+".contains(c)))
        && rest.iter().any(|part| part.starts_with(|c: char| c.is_ascii_digit()))
}

/// Whether a shell command line turns on `pipefail` (`-o pipefail`, `-eo pipefail`).
fn sets_pipefail(shell: &[String]) -> bool {
    shell
        .windows(2)
        .any(|w| w[1] == "pipefail" && w[0].starts_with('-') && !w[0].starts_with("--") && w[0].ends_with('o'))
        || shell.iter().any(|w| w == "-opipefail")
}
