//! The editor packages in real editors: Debian's Neovim (headless) and Emacs with eglot
//! (batch) load `editors/nvim` and `editors/emacs`, open a Dockerfile with known problems and
//! talk to the real `slipway lsp`. The drivers (`tests/fixtures/editors/*-e2e.*`) record what
//! the editor saw as JSON; this side asserts.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exactly two known problems: line 0 `as` lower-case (FromAsCasing), line 3 a misspelt
/// flag (slipway::flag::unknown).
const DOCKERFILE: &str = "\
FROM alpine:3.20 as build
ENV HOME=/h
RUN echo $HOME
COPY --form=x a /b
FROM scratch
COPY --from=build /a /b
";

/// Whether `program` runs; prints why the test is skipped when not.
fn have(program: &str, package: &str, test: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: skipping {test} (needs {program}: apt-get install {package})");
    }
    found
}

/// Runs an editor session on a project with [`DOCKERFILE`] (and a second Dockerfile beside
/// it); the driver writes what the editor saw to `$SLIPWAY_E2E_OUT`, returned here.
fn run_session(dir: &std::path::Path, editor: &mut Command, plugin: &str) -> Value {
    let file = dir.join("project/Dockerfile");
    let second = dir.join("project/Dockerfile.dev");
    let names = dir.join("names");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&names).unwrap();
    std::fs::write(&file, DOCKERFILE).unwrap();
    std::fs::write(&second, "FROM alpine\n").unwrap();
    let out = dir.join("result.json");
    // No store unless the test has one (plans degrade), and nothing of the user's editor state.
    if !editor.get_envs().any(|(k, _)| k == "SLIPWAY_ROOT") {
        editor.env("SLIPWAY_ROOT", dir.join("no-store"));
    }
    let mut child = editor
        .env("SLIPWAY_E2E_PLUGIN", crate::root().join(plugin))
        .env("SLIPWAY_E2E_BIN", env!("CARGO_BIN_EXE_slipway"))
        .env("SLIPWAY_E2E_FILE", &file)
        .env("SLIPWAY_E2E_SECOND", &second)
        .env("SLIPWAY_E2E_NAMES_DIR", &names)
        .env(
            "SLIPWAY_E2E_NAMES",
            "app.Dockerfile,Dockerfile.prod,Containerfile,Containerfile.dev,build.dockerfile,x.containerfile",
        )
        .env("SLIPWAY_E2E_WANT_CODES", "FromAsCasing,slipway::flag::unknown")
        // `$HOME` in `RUN echo $HOME`, and right after `COPY --`.
        .env("SLIPWAY_E2E_HOVER", "2:11")
        .env("SLIPWAY_E2E_COMPLETE", "5:7")
        .env("SLIPWAY_E2E_OUT", &out)
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("xdg/config"))
        .env("XDG_DATA_HOME", dir.join("xdg/data"))
        .env("XDG_STATE_HOME", dir.join("xdg/state"))
        .env("XDG_CACHE_HOME", dir.join("xdg/cache"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the editor");
    // stderr is read after exit: the drivers print little (eglot's "Connected!").
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the editor did not finish its session");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("the editor ({status}) wrote no result ({e}); stderr:\n{stderr}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad result {text}: {e}"))
}

/// The hover on `$HOME` and the completion after `COPY --`, as every editor must show them.
fn assert_hover_and_completion(r: &Value) {
    let hover = r["hover"].as_str().unwrap_or_else(|| panic!("no hover: {r:#}"));
    assert!(hover.contains("**HOME** = `/h`"), "{hover}");
    assert!(hover.contains("ENV on line 2"), "{hover}");
    let labels: Vec<&str> = r["completion"]
        .as_array()
        .unwrap_or_else(|| panic!("no completion: {r:#}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"--from"), "{labels:?}");
    assert!(labels.contains(&"--chown"), "{labels:?}");
}

#[test]
fn neovim_plugin_shows_slipway_diagnostics_hover_and_completion() {
    let test = "neovim_plugin_shows_slipway_diagnostics_hover_and_completion";
    if !have("nvim", "neovim", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let driver = crate::root().join("tests/fixtures/editors/nvim-e2e.lua");
    let mut nvim = Command::new("nvim");
    nvim.args(["--headless", "--clean", "-u"]).arg(driver);
    let r = run_session(dir.path(), &mut nvim, "editors/nvim");
    assert!(r["error"].is_null(), "the session failed: {r:#}");
    assert_eq!(r["filetype"], "dockerfile");
    assert_eq!(r["attached"], true, "{r:#}");
    assert_eq!(r["commands"], serde_json::json!({"plan": true, "build": true}));

    let diags = r["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 2, "only the two known problems: {diags:#?}");
    let find = |code: &str| {
        diags
            .iter()
            .find(|d| d["code"] == code)
            .unwrap_or_else(|| panic!("no {code} among {diags:#?}"))
    };
    let casing = find("FromAsCasing");
    assert_eq!((casing["line"].as_u64(), casing["col"].as_u64()), (Some(0), Some(17)));
    assert_eq!(casing["severity"], 2, "a warning");
    let flag = find("slipway::flag::unknown");
    assert_eq!((flag["line"].as_u64(), flag["col"].as_u64()), (Some(3), Some(7)));
    assert_eq!(flag["severity"], 1, "an error");
    assert!(
        flag["message"].as_str().unwrap().contains("did you mean --from?"),
        "{flag:#}"
    );
    assert_eq!(flag["source"], "slipway");

    assert_hover_and_completion(&r);

    assert_eq!(
        r["clients"], 1,
        "two Dockerfiles of one project share one server: {r:#}"
    );
    let filetypes = r["filetypes"].as_object().unwrap();
    assert_eq!(filetypes.len(), 6);
    for (name, ft) in filetypes {
        assert_eq!(ft, "dockerfile", "{name}");
    }
}

#[test]
fn emacs_eglot_shows_slipway_diagnostics_hover_and_completion() {
    let test = "emacs_eglot_shows_slipway_diagnostics_hover_and_completion";
    if !have("emacs", "emacs-nox elpa-eglot", test) {
        return;
    }
    let has_eglot = std::fs::read_dir("/usr/share/emacs/site-lisp/elpa")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("eglot-"))
        })
        .unwrap_or(false);
    if !has_eglot {
        eprintln!("note: skipping {test} (needs eglot: apt-get install elpa-eglot)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let driver = crate::root().join("tests/fixtures/editors/emacs-e2e.el");
    let mut emacs = Command::new("emacs");
    emacs.args(["--batch", "-Q", "-l"]).arg(driver);
    let r = run_session(dir.path(), &mut emacs, "editors/emacs");
    assert!(r["error"].is_null(), "the session failed: {r:#}");
    assert_eq!(
        r["mode"], "slipway-dockerfile-mode",
        "no other Dockerfile mode is installed"
    );
    assert_eq!(r["attached"], true, "{r:#}");
    let diags = r["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 2, "only the two known problems: {diags:#?}");
    let find = |code: &str| {
        diags
            .iter()
            .find(|d| d["message"].as_str().unwrap().contains(&format!("[{code}]")))
            .unwrap_or_else(|| panic!("no {code} among {diags:#?}"))
    };
    let casing = find("FromAsCasing");
    assert_eq!((casing["line"].as_u64(), casing["col"].as_u64()), (Some(0), Some(17)));
    assert_eq!(casing["type"], "eglot-warning");
    let flag = find("slipway::flag::unknown");
    assert_eq!((flag["line"].as_u64(), flag["col"].as_u64()), (Some(3), Some(7)));
    assert_eq!(flag["type"], "eglot-error");
    assert_hover_and_completion(&r);
}

/// Helix is not packaged for Debian bookworm; its snippet must at least be valid TOML that
/// starts `slipway lsp` for Dockerfiles, with settings the server knows and accepts.
#[test]
fn helix_languages_toml_registers_slipway_with_known_settings() {
    let text = std::fs::read_to_string(crate::root().join("editors/helix/languages.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let server = &doc["language-server"]["slipway"];
    assert_eq!(server["command"].as_str(), Some("slipway"));
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["lsp", "--stdio"]);
    let config = serde_json::to_value(server["config"].clone()).unwrap();
    let known = [
        "ignore",
        "severity",
        "experimental",
        "shellcheck",
        "shellcheckDelayMs",
        "diagnosticsDelayMs",
        "buildArgs",
        "target",
        "codeLens",
    ];
    for key in config.as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "unknown setting {key}");
    }
    slipway_lsp::config::Settings::from_json(&config).expect("the server accepts the settings");
    let languages = doc["language"].as_array().unwrap();
    let dockerfile = languages
        .iter()
        .find(|l| l["name"].as_str() == Some("dockerfile"))
        .unwrap();
    assert_eq!(dockerfile["language-servers"][0].as_str(), Some("slipway"));
}

#[test]
fn neovim_plugin_explains_a_missing_binary_once() {
    if !have("nvim", "neovim", "neovim_plugin_explains_a_missing_binary_once") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let driver = crate::root().join("tests/fixtures/editors/nvim-e2e.lua");
    let mut nvim = Command::new("nvim");
    nvim.args(["--headless", "--clean", "-u"])
        .arg(driver)
        .env("SLIPWAY_E2E_MODE", "missing")
        // Used instead of the real binary that run_session passes.
        .env("SLIPWAY_E2E_BIN_OVERRIDE", "/nonexistent/slipway");
    let r = run_session(dir.path(), &mut nvim, "editors/nvim");
    assert!(r["error"].is_null(), "the session failed: {r:#}");
    let notes = r["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "told once: {notes:#?}");
    let message = notes[0]["message"].as_str().unwrap();
    assert!(message.contains("`/nonexistent/slipway` was not found"), "{message}");
    assert!(message.contains("cargo install --locked --path ."), "{message}");
    assert_eq!(notes[0]["level"], 4, "an error (vim.log.levels.ERROR)");
    assert_eq!(r["clients"], 0);
}

#[test]
fn neovim_slipway_plan_command_shows_the_plan() {
    if !have("nvim", "neovim", "neovim_slipway_plan_command_shows_the_plan") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("plan");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("Dockerfile"), "FROM scratch\nCOPY a.txt /a\n").unwrap();
    std::fs::write(project.join("a.txt"), "hi\n").unwrap();
    // `slipway plan` creates the store the server plans against.
    let store = dir.path().join("store");
    let made = crate::bin()
        .arg("plan")
        .arg(&project)
        .env("SLIPWAY_ROOT", &store)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let driver = crate::root().join("tests/fixtures/editors/nvim-e2e.lua");
    let mut nvim = Command::new("nvim");
    nvim.args(["--headless", "--clean", "-u"])
        .arg(driver)
        .env("SLIPWAY_E2E_MODE", "plan")
        .env("SLIPWAY_E2E_PLAN_FILE", project.join("Dockerfile"))
        .env("SLIPWAY_ROOT", &store);
    let r = run_session(dir.path(), &mut nvim, "editors/nvim");
    assert!(r["error"].is_null(), "the session failed: {r:#}");
    let notes: Vec<&str> = r["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert!(
        notes.contains(&"slipway: line 1: cached\nline 2: rebuild: never built before"),
        "{notes:#?}"
    );
}
