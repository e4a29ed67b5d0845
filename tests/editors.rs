//! The editor packages in real editors: Debian's Neovim, headless, loads `editors/nvim`,
//! opens a Dockerfile with known problems and talks to the real `slipway lsp`. The Lua side
//! (`tests/fixtures/editors/nvim-e2e.lua`) records what the editor saw; this side asserts.

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

fn have_nvim(test: &str) -> bool {
    let found = Command::new("nvim")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: skipping {test} (needs Neovim: apt-get install neovim)");
    }
    found
}

/// Runs the scripted session; returns what the editor recorded.
fn run_nvim(dir: &std::path::Path) -> Value {
    let file = dir.join("project/Dockerfile");
    let second = dir.join("project/Dockerfile.dev");
    let names = dir.join("names");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&names).unwrap();
    std::fs::write(&file, DOCKERFILE).unwrap();
    std::fs::write(&second, "FROM alpine\n").unwrap();
    let out = dir.join("result.json");
    let driver = crate::root().join("tests/fixtures/editors/nvim-e2e.lua");
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-u"])
        .arg(&driver)
        .env("SLIPWAY_E2E_PLUGIN", crate::root().join("editors/nvim"))
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
        // No store (plans degrade), and nothing of the user's Neovim state.
        .env("SLIPWAY_ROOT", dir.join("no-store"))
        .env("XDG_CONFIG_HOME", dir.join("xdg/config"))
        .env("XDG_DATA_HOME", dir.join("xdg/data"))
        .env("XDG_STATE_HOME", dir.join("xdg/state"))
        .env("XDG_CACHE_HOME", dir.join("xdg/cache"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nvim");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headless nvim did not finish its session");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("nvim ({status}) wrote no result ({e}); stderr:\n{stderr}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad result {text}: {e}"))
}

#[test]
fn neovim_plugin_shows_slipway_diagnostics_hover_and_completion() {
    if !have_nvim("neovim_plugin_shows_slipway_diagnostics_hover_and_completion") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run_nvim(dir.path());
    assert!(r["error"].is_null(), "the session failed: {r:#}");
    assert_eq!(r["filetype"], "dockerfile");
    assert_eq!(r["attached"], true, "{r:#}");
    assert_eq!(r["commands"], serde_json::json!({"plan": true, "build": true}));

    let diags = r["diagnostics"].as_array().unwrap();
    let find = |code: &str| {
        diags
            .iter()
            .find(|d| d["code"] == code)
            .unwrap_or_else(|| panic!("no {code} among {diags:#?}"))
    };
    let casing = find("FromAsCasing");
    assert_eq!((casing["line"].as_u64(), casing["col"].as_u64()), (Some(0), Some(17)));
    assert_eq!(diags.len(), 2, "only the two known problems: {diags:#?}");
    let flag = find("slipway::flag::unknown");
    assert_eq!(flag["line"], 3);
    assert_eq!(flag["col"], 7);
    assert!(
        flag["message"].as_str().unwrap().contains("did you mean --from?"),
        "{flag:#}"
    );
    assert_eq!(flag["source"], "slipway");

    let hover = r["hover"].as_str().unwrap();
    assert!(hover.contains("**HOME** = `/h`"), "{hover}");
    assert!(hover.contains("ENV on line 2"), "{hover}");

    let labels: Vec<&str> = r["completion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"--from"), "{labels:?}");
    assert!(labels.contains(&"--chown"), "{labels:?}");

    assert_eq!(
        r["clients"], 1,
        "two Dockerfiles of one project share one server: {r:#}"
    );
    for (name, ft) in r["filetypes"].as_object().unwrap() {
        assert_eq!(ft, "dockerfile", "{name}");
    }
    assert_eq!(r["filetypes"].as_object().unwrap().len(), 6);
}
