//! Registries end to end, against Debian's `docker-registry` (distribution 2.8) started on
//! 127.0.0.1 with a config the test writes: open and behind htpasswd Basic auth; a token
//! server and fault injection in an in-test proxy on loopback. Skips (with a note) when
//! `docker-registry` is not installed; the parts that build or run containers need root.

pub use crate::text;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `docker-registry serve` on a free loopback port; killed on drop.
pub struct Registry {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn have(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    if !found {
        eprintln!("note: skipping {test} (needs `{program}`: apt-get install docker-registry apache2-utils skopeo)");
    }
    found
}

/// `GET /v2/` status line, or None when nothing answers.
fn ping(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line)
}

impl Registry {
    /// Starts a registry; with `htpasswd`, behind Basic auth for that user. None (after a
    /// note) when the programs are missing.
    pub fn start(test: &str, htpasswd: Option<(&str, &str)>) -> Option<Registry> {
        if !have("docker-registry", test) || (htpasswd.is_some() && !have("htpasswd", test)) {
            return None;
        }
        // A free port can be taken by someone else before the registry binds it: then the
        // registry exits, and another port is tried (a bounded number of times).
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let mut config = format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
                dir.path().join("data").display()
            );
            if let Some((user, pass)) = htpasswd {
                let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().unwrap();
                assert!(out.status.success());
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                config.push_str(&format!(
                    "auth: {{htpasswd: {{realm: slipway-test, path: {}}}}}\n",
                    file.display()
                ));
            }
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut reg = Registry { port, child, _dir: dir };
            let want = if htpasswd.is_some() { " 401" } else { " 200" };
            for _ in 0..200 {
                if reg.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if ping(port).is_some_and(|l| l.contains(want)) && reg.child.try_wait().ok().flatten().is_none() {
                    return Some(reg);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("docker-registry did not start on a free loopback port (5 tries)");
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The bytes of every blob the registry holds (its storage on disk).
    pub fn blobs(&self) -> Vec<Vec<u8>> {
        walkdir::WalkDir::new(self._dir.path().join("data/docker/registry/v2/blobs"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.file_name() == "data")
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Relay.
    Pass,
    /// A registry behind Bearer tokens: `/token` issues them (for these credentials when
    /// given, anonymously otherwise), `/v2/…` wants one.
    Bearer(Option<(String, String)>),
    /// The first GET of each blob sends half the body, then closes the connection.
    DropMidBlob,
    /// As `DropMidBlob`, and range requests are answered from byte 0 (the header dropped).
    DropMidBlobNoRanges,
    /// Blob GETs without a range send half the body, then hang (until the mode changes,
    /// at most 20 s).
    HangMidBlob,
    /// Blob bodies arrive with one byte changed.
    CorruptBlob,
    /// The next N manifest requests answer 500.
    Fail500(u32),
    /// The next N blob upload requests (PUT, PATCH) answer 500.
    Fail500Uploads(u32),
}

#[derive(Default)]
pub struct ProxyLog {
    /// `METHOD path [range]` of every request.
    pub requests: Vec<String>,
    /// Query strings of token requests.
    pub token_queries: Vec<String>,
    dropped: std::collections::BTreeSet<String>,
}

/// An HTTP/1.1 proxy on loopback in front of a registry (one request per connection).
pub struct Proxy {
    pub port: u16,
    pub mode: Arc<Mutex<Mode>>,
    pub log: Arc<Mutex<ProxyLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: u16, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, l, s) = (mode.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (m, l) = (m.clone(), l.clone());
                        std::thread::spawn(move || {
                            let _ = serve(conn, upstream, port, &m, &l);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            mode,
            log,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Changes the mode; each blob may be dropped once again.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        self.log.lock().unwrap().dropped.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn serve(
    mut conn: TcpStream,
    upstream: u16,
    port: u16,
    mode: &Mutex<Mode>,
    log: &Mutex<ProxyLog>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    let range = header("range");
    log.lock().unwrap().requests.push(format!(
        "{method} {target}{}",
        range.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default()
    ));
    let path = target.split('?').next().unwrap_or("").to_string();
    {
        let mut m = mode.lock().unwrap();
        let mode_before = Box::new(m.clone());
        let upload = matches!(method.as_str(), "PUT" | "PATCH") && path.contains("/blobs/uploads/");
        if let Mode::Fail500(n) | Mode::Fail500Uploads(n) = &mut *m {
            let hit = if path.contains("/manifests/") {
                matches!(*mode_before, Mode::Fail500(_))
            } else {
                upload && matches!(*mode_before, Mode::Fail500Uploads(_))
            };
            if *n > 0 && hit {
                if *n != u32::MAX {
                    *n -= 1;
                }
                drop(m);
                return fail_500(&mut conn);
            }
        }
    }
    let mode_now = mode;
    let mode = mode.lock().unwrap().clone();
    let is_blob_get = method == "GET" && path.contains("/blobs/sha256:");
    let mut strip_auth = false;
    if let Mode::Bearer(creds) = &mode {
        if path == "/token" {
            log.lock()
                .unwrap()
                .token_queries
                .push(target.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default());
            let ok = match creds {
                None => true,
                // An identity token: OAuth2 refresh-token grant in a POSTed form.
                Some((u, p)) if u == "<token>" => {
                    let form = String::from_utf8_lossy(&body).into_owned();
                    method == "POST"
                        && form.contains("grant_type=refresh_token")
                        && form.split('&').any(|f| f == format!("refresh_token={p}"))
                }
                Some((u, p)) => {
                    use base64::Engine as _;
                    let want = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                    );
                    header("authorization").as_deref() == Some(want.as_str())
                }
            };
            return if ok {
                respond(
                    &mut conn,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    br#"{"token":"tok-1","expires_in":300}"#,
                )
            } else {
                respond(
                    &mut conn,
                    "401 Unauthorized",
                    &[("Content-Type", "application/json".into())],
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                )
            };
        }
        if header("authorization").as_deref() != Some("Bearer tok-1") {
            let repo = path
                .strip_prefix("/v2/")
                .and_then(|p| {
                    ["/manifests/", "/blobs/", "/tags/"]
                        .iter()
                        .find_map(|k| p.split_once(k).map(|(r, _)| r.to_string()))
                })
                .map(|r| format!(",scope=\"repository:{r}:pull\""))
                .unwrap_or_default();
            return respond(
                &mut conn,
                "401 Unauthorized",
                &[
                    (
                        "WWW-Authenticate",
                        format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"slipway-test\"{repo}"),
                    ),
                    ("Content-Type", "application/json".into()),
                ],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
        strip_auth = true;
    }
    // Relay to the registry; the Host header is kept, so its Locations point here.
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        if k == "connection"
            || k == "transfer-encoding"
            || k == "content-length"
            || (strip_auth && k == "authorization")
            || (mode == Mode::DropMidBlobNoRanges && k == "range")
        {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method.as_str(), "PUT" | "POST" | "PATCH") {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("connection: close\r\n\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    let ok_body = response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.1 206");
    match mode {
        Mode::DropMidBlob | Mode::DropMidBlobNoRanges if is_blob_get && ok_body && range.is_none() => {
            let first = log.lock().unwrap().dropped.insert(path.clone());
            if first {
                let half = split + (response.len() - split) / 2;
                conn.write_all(&response[..half])?;
                conn.flush()?;
                return conn.shutdown(std::net::Shutdown::Both);
            }
        }
        Mode::HangMidBlob if is_blob_get && ok_body && range.is_none() => {
            let half = split + (response.len() - split) / 2;
            conn.write_all(&response[..half])?;
            conn.flush()?;
            for _ in 0..400 {
                if *mode_now.lock().unwrap() != Mode::HangMidBlob {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            return conn.shutdown(std::net::Shutdown::Both);
        }
        Mode::CorruptBlob if is_blob_get && ok_body && response.len() > split => {
            let last = response.len() - 1;
            response[last] ^= 0xff;
        }
        _ => {}
    }
    conn.write_all(&response)?;
    conn.flush()
}

fn fail_500(conn: &mut TcpStream) -> std::io::Result<()> {
    respond(
        conn,
        "500 Internal Server Error",
        &[("Content-Type", "application/json".into())],
        br#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#,
    )
}

/// The environment of one "machine": its store, Docker config and registries config.
pub struct Machine {
    pub dir: PathBuf,
}

impl Machine {
    pub fn new(dir: &Path, name: &str) -> Machine {
        let dir = dir.join(name);
        std::fs::create_dir_all(dir.join("docker")).unwrap();
        Machine { dir }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// Writes `registries.toml`.
    pub fn registries(&self, toml: &str) {
        std::fs::write(self.dir.join("registries.toml"), toml).unwrap();
    }

    pub fn run(&self, cwd: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = crate::bin()
            .args(args)
            .current_dir(cwd)
            .env("SLIPWAY_ROOT", self.store())
            .env("DOCKER_CONFIG", self.dir.join("docker"))
            .env("SLIPWAY_REGISTRIES_CONFIG", self.dir.join("registries.toml"))
            .env("HOME", &self.dir)
            // `<machine>/bin` first: credential helpers a test installs.
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.dir.join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run slipway");
        if let Some(s) = stdin {
            let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// Starts slipway without waiting for it.
    pub fn spawn(&self, cwd: &Path, args: &[&str]) -> Child {
        crate::bin()
            .args(args)
            .current_dir(cwd)
            .env("SLIPWAY_ROOT", self.store())
            .env("DOCKER_CONFIG", self.dir.join("docker"))
            .env("SLIPWAY_REGISTRIES_CONFIG", self.dir.join("registries.toml"))
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run slipway")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.run(cwd, args, None);
        let (out, err) = text(&o);
        assert!(
            o.status.success(),
            "slipway {args:?} failed ({}):\n{out}\n{err}",
            o.status
        );
        out
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.run(cwd, args, None);
        let (out, err) = text(&o);
        assert!(!o.status.success(), "slipway {args:?} should fail:\n{out}\n{err}");
        err
    }

    /// Every blob in the store has the digest it is named by, and no temp file is left.
    pub fn assert_store_clean(&self) {
        use sha2::Digest as _;
        let dir = self.store().join("blobs/sha256");
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            assert!(!name.starts_with(".tmp"), "temp file {name} left in the store");
            let bytes = std::fs::read(e.path()).unwrap();
            assert_eq!(
                slipway_store_hex(&sha2::Sha256::digest(&bytes)),
                name,
                "blob {name} is corrupt"
            );
        }
    }
}

fn slipway_store_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A tiny image (files only, no busybox) imported as `name`: enough to push and pull
/// without root.
pub fn import_files(m: &Machine, name: &str, files: &BTreeMap<&str, &str>) {
    let rootfs = m.dir.join(format!("rootfs-{}", name.replace(['/', ':'], "_")));
    for (p, content) in files {
        let path = rootfs.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    m.ok(&m.dir, &["image", "import", rootfs.to_str().unwrap(), "--tag", name]);
}

fn skopeo_inspect(reference: &str, creds: Option<&str>) -> Option<serde_json::Value> {
    if !have("skopeo", "the skopeo cross-check") {
        return None;
    }
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn manifest_digest(m: &Machine, image: &str) -> String {
    let out = m.ok(&m.dir, &["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["ManifestDescriptor"]["digest"].as_str().unwrap().to_string()
}

fn image_id(m: &Machine, image: &str) -> String {
    let out = m.ok(&m.dir, &["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

fn files(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
    pairs.iter().cloned().collect()
}

#[test]
fn push_pull_round_trip_on_an_open_registry_agrees_with_skopeo() {
    let Some(reg) = Registry::start("push_pull_round_trip_on_an_open_registry_agrees_with_skopeo", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(
        &a,
        "tiny",
        &files(&[("etc/hello", "hello\n"), ("srv/data.txt", "data\n")]),
    );
    let local = manifest_digest(&a, "tiny");
    let target = format!("{}/team/tiny:1", reg.host());
    let out = a.ok(&a.dir, &["push", "tiny", &target]);
    assert!(out.contains("2 uploaded, 0 mounted, 0 already there"), "{out}");
    assert!(out.contains(&local), "push prints the manifest digest {local}: {out}");
    if let Some(v) = skopeo_inspect(&target, None) {
        assert_eq!(v["Digest"], local.as_str());
        let ours: serde_json::Value = serde_json::from_str(&a.ok(&a.dir, &["image", "inspect", "tiny"])).unwrap();
        assert_eq!(v["Layers"][0], ours[0]["Manifest"]["layers"][0]["digest"]);
        assert_eq!(v["Architecture"], ours[0]["Config"]["architecture"]);
    }
    // Pushed again: every blob is already there.
    let out = a.ok(&a.dir, &["push", "tiny", &target]);
    assert!(out.contains("0 uploaded, 0 mounted, 2 already there"), "{out}");
    // To another repository of the same registry: mounted, not uploaded.
    let out = a.ok(&a.dir, &["push", "tiny", &format!("{}/other/tiny:1", reg.host())]);
    assert!(out.contains("0 uploaded, 2 mounted"), "{out}");

    // Machine B pulls it into an empty store.
    let b = Machine::new(d.path(), "b");
    let out = b.ok(&b.dir, &["pull", &target]);
    assert!(out.contains(&local), "{out}");
    assert_eq!(manifest_digest(&b, &target), local);
    b.assert_store_clean();
    // A second pull fetches no blob again.
    let o = b.run(&b.dir, &["pull", &target], None);
    let (_, err) = text(&o);
    assert!(o.status.success() && !err.contains(": done"), "{err}");
    assert_eq!(err.matches(": exists").count(), 2, "{err}");
    // By digest too.
    let by_digest = format!("{}/team/tiny@{local}", reg.host());
    b.ok(&b.dir, &["pull", &by_digest]);
    assert_eq!(manifest_digest(&b, &by_digest), local);
    // Unknown tags and repositories: a clear error.
    let err = b.fails(&b.dir, &["pull", &format!("{}/team/tiny:nope", reg.host())]);
    assert!(
        err.contains("is not in the registry") && err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
    let err = b.fails(&b.dir, &["pull", "Bad//name"]);
    assert!(err.contains("invalid"), "{err}");
}

#[test]
fn built_image_is_pushed_pulled_into_an_empty_store_and_runs() {
    if !crate::build::can_run_containers("built_image_is_pushed_pulled_into_an_empty_store_and_runs") {
        return;
    }
    let Some(reg) = Registry::start("built_image_is_pushed_pulled_into_an_empty_store_and_runs", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    crate::build::import_busybox(&a.store(), &a.dir);
    let ctx = a.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nRUN echo pushed and pulled > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    let target = format!("{}/app:1", reg.host());
    let out = a.ok(&ctx, &["build", "-t", &target, "--push", "."]);
    assert!(out.contains("3 uploaded"), "{out}");
    let pushed = out
        .split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string();
    let id = image_id(&a, &target);
    if let Some(v) = skopeo_inspect(&target, None) {
        assert_eq!(v["Digest"], pushed.as_str());
        assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    }
    // The store keeps the built layer uncompressed; the registry got it gzipped.
    let inspect: serde_json::Value = serde_json::from_str(&a.ok(&a.dir, &["image", "inspect", &target])).unwrap();
    assert_eq!(
        inspect[0]["Manifest"]["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    // A second push names the same blobs (remembered, not compressed again): nothing to upload.
    let again = a.ok(&a.dir, &["push", &target]);
    assert!(again.contains("0 uploaded") && again.contains(&pushed), "{again}");
    // The local store goes; the image comes back from the registry, the same image, and runs.
    std::fs::remove_dir_all(a.store()).unwrap();
    a.ok(&a.dir, &["pull", &target]);
    assert_eq!(manifest_digest(&a, &target), pushed);
    assert_eq!(image_id(&a, &target), id);
    let out = a.ok(&a.dir, &["run", "--rm", &target]);
    assert_eq!(out, "pushed and pulled\n");
}

#[test]
fn htpasswd_registry_needs_login_and_then_works() {
    let Some(reg) = Registry::start("htpasswd_registry_needs_login_and_then_works", Some(("ci", "s3cret"))) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(&a, "tiny", &files(&[("etc/hello", "basic\n")]));
    let target = format!("{}/private/tiny:1", reg.host());
    let err = a.fails(&a.dir, &["push", "tiny", &target]);
    assert!(
        err.contains("wants a username and password") && err.contains("slipway login"),
        "{err}"
    );
    let err = a.fails(&a.dir, &["login", "-u", "ci", "-p", "wrong", &reg.host()]);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        !a.dir.join("docker/config.json").exists(),
        "failed logins store nothing"
    );
    let o = a.run(
        &a.dir,
        &["login", "-u", "ci", "--password-stdin", &reg.host()],
        Some("s3cret\n"),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let config = std::fs::read_to_string(a.dir.join("docker/config.json")).unwrap();
    assert!(config.contains(&reg.host()) && config.contains("\"auth\""), "{config}");
    a.ok(&a.dir, &["push", "tiny", &target]);
    if let Some(v) = skopeo_inspect(&target, Some("ci:s3cret")) {
        assert_eq!(v["Digest"], manifest_digest(&a, "tiny").as_str());
    }
    // Another machine with the same Docker config pulls; without it, a clear error.
    let b = Machine::new(d.path(), "b");
    let err = b.fails(&b.dir, &["pull", &target]);
    assert!(err.contains("slipway login"), "{err}");
    std::fs::copy(a.dir.join("docker/config.json"), b.dir.join("docker/config.json")).unwrap();
    b.ok(&b.dir, &["pull", &target]);
    b.assert_store_clean();
    // A credential helper named by `credHelpers` answers instead.
    let c = Machine::new(d.path(), "c");
    std::fs::create_dir_all(c.dir.join("bin")).unwrap();
    let helper = c.dir.join("bin/docker-credential-slipwaytest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\necho \"$1 $server\" >> \"$(dirname \"$0\")/calls\"\necho '{\"Username\":\"ci\",\"Secret\":\"s3cret\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        c.dir.join("docker/config.json"),
        format!(r#"{{"credHelpers": {{"{}": "slipwaytest"}}}}"#, reg.host()),
    )
    .unwrap();
    c.ok(&c.dir, &["pull", &target]);
    let calls = std::fs::read_to_string(c.dir.join("bin/calls")).unwrap();
    assert!(calls.starts_with(&format!("get {}", reg.host())), "{calls}");
}

#[test]
fn bearer_token_challenges_anonymous_and_with_credentials() {
    let Some(reg) = Registry::start("bearer_token_challenges_anonymous_and_with_credentials", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(&a, "tiny", &files(&[("etc/hello", "bearer\n")]));
    // Anonymous tokens.
    let proxy = Proxy::start(reg.port, Mode::Bearer(None));
    let target = format!("{}/tok/tiny:1", proxy.host());
    a.ok(&a.dir, &["push", "tiny", &target]);
    let b = Machine::new(d.path(), "b");
    b.ok(&b.dir, &["pull", &target]);
    {
        let log = proxy.log.lock().unwrap();
        assert!(
            log.token_queries.iter().any(
                |q| q.contains("service=slipway-test") && q.contains("scope=repository%3Atok%2Ftiny%3Apull%2Cpush")
            ),
            "{:?}",
            log.token_queries
        );
        assert!(log
            .token_queries
            .iter()
            .any(|q| q.ends_with("scope=repository%3Atok%2Ftiny%3Apull")));
    }
    // Tokens only for a user: refused without credentials, then logged in.
    proxy.set_mode(Mode::Bearer(Some(("robot".into(), "pw".into()))));
    let c = Machine::new(d.path(), "c");
    let err = c.fails(&c.dir, &["pull", &target]);
    assert!(err.contains("refused access") && err.contains("slipway login"), "{err}");
    let err = c.fails(&c.dir, &["login", "-u", "robot", "-p", "nope", &proxy.host()]);
    assert!(err.contains("refused access"), "{err}");
    c.ok(&c.dir, &["login", "-u", "robot", "-p", "pw", &proxy.host()]);
    c.ok(&c.dir, &["pull", &target]);
    assert_eq!(manifest_digest(&c, &target), manifest_digest(&a, "tiny"));
    // An identity token in the Docker config (an OAuth2 refresh token, as Docker Hub and
    // registries like ACR hand out) is exchanged at the realm with a POST.
    proxy.set_mode(Mode::Bearer(Some(("<token>".into(), "refresh-abc".into()))));
    let e = Machine::new(d.path(), "e");
    let config = |token: &str| format!(r#"{{"auths": {{"{}": {{"identitytoken": "{token}"}}}}}}"#, proxy.host());
    std::fs::write(e.dir.join("docker/config.json"), config("stale")).unwrap();
    let err = e.fails(&e.dir, &["pull", &target]);
    assert!(err.contains("refused access"), "{err}");
    std::fs::write(e.dir.join("docker/config.json"), config("refresh-abc")).unwrap();
    e.ok(&e.dir, &["pull", &target]);
}

/// Pushes an imported busybox as `library/alpine` (`tags`) to the registry at `host`.
fn serve_busybox_as_alpine(m: &Machine, host: &str, tags: &[&str]) {
    crate::build::import_busybox(&m.store(), &m.dir);
    for t in tags {
        m.ok(&m.dir, &["push", "bb", &format!("{host}/library/alpine:{t}")]);
    }
}

#[test]
fn mission_dockerfile_resolves_alpine_through_a_loopback_mirror() {
    let test = "mission_dockerfile_resolves_alpine_through_a_loopback_mirror";
    if !crate::build::can_run_containers(test) {
        return;
    }
    let Some(reg) = Registry::start(test, None) else { return };
    let d = tempfile::tempdir().unwrap();
    let publisher = Machine::new(d.path(), "publisher");
    serve_busybox_as_alpine(&publisher, &reg.host(), &["latest", "3.20"]);
    let a = Machine::new(d.path(), "a");
    a.registries(&format!(
        "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
        reg.host()
    ));
    // The mission's literal Dockerfile.
    let ctx = a.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM alpine\nRUN apk add --update redis\nCMD [\"redis-server\"]\n",
    )
    .unwrap();
    let o = a.run(&ctx, &["build", "-t", "redis-test", "."], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pulled alpine:latest") && err.contains(&reg.host()),
        "{err}"
    );
    assert!(
        err.contains("Dockerfile:2:1]")
            && err.contains("RUN apk add --update redis")
            && err
                .replace("\n  │ ", " ")
                .contains("apk add --update redis\" did not complete successfully: exit code: 127"),
        "the error names the failing command, its line and exit code:\n{err}"
    );
    // The alpine in the store is the mirror's.
    assert_eq!(manifest_digest(&a, "alpine"), manifest_digest(&publisher, "bb"));
    // The repository's alpine variant of the example (alpine:3.20) the same way.
    let example = crate::root().join("examples/redis");
    let o = a.run(&example, &["build", "-f", "alpine.Dockerfile", "."], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("pulled alpine:3.20"), "{err}");
    assert!(
        err.contains("alpine.Dockerfile:5:1]") && err.contains("RUN --mount=type=cache,target=/var/cache/apk"),
        "{err}"
    );
    // A mirror that lacks the image and an unreachable upstream: a clear error naming both.
    let b = Machine::new(d.path(), "b");
    b.registries(&format!(
        "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
        reg.host()
    ));
    std::fs::write(ctx.join("Dockerfile"), "FROM alpine:0.0-missing\nRUN true\n").unwrap();
    let o = b.run(&ctx, &["build", "."], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("base image alpine:0.0-missing is not in the store and cannot be pulled")
            && err.contains(&format!("mirror {}", reg.host()))
            && err.contains("registries.toml")
            && err.contains("slipway image import ROOTFS.tar --tag alpine:0.0-missing"),
        "{err}"
    );
}

#[test]
fn build_pull_refreshes_a_base_the_store_has() {
    let test = "build_pull_refreshes_a_base_the_store_has";
    if !crate::build::can_run_containers(test) {
        return;
    }
    let Some(reg) = Registry::start(test, None) else { return };
    let d = tempfile::tempdir().unwrap();
    let publisher = Machine::new(d.path(), "publisher");
    serve_busybox_as_alpine(&publisher, &reg.host(), &["latest"]);
    let a = Machine::new(d.path(), "a");
    a.registries(&format!(
        "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
        reg.host()
    ));
    let ctx = a.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM alpine\nLABEL refreshed=yes\n").unwrap();
    a.ok(&ctx, &["build", "-t", "labelled", "."]);
    assert_eq!(manifest_digest(&a, "alpine"), manifest_digest(&publisher, "bb"));
    // The mirror's alpine:latest changes; only `--pull` takes the new one.
    import_files(&publisher, "tiny", &files(&[("etc/os-release", "ID=not-alpine\n")]));
    publisher.ok(
        &publisher.dir,
        &["push", "tiny", &format!("{}/library/alpine:latest", reg.host())],
    );
    a.ok(&ctx, &["build", "-t", "labelled", "."]);
    assert_eq!(
        manifest_digest(&a, "alpine"),
        manifest_digest(&publisher, "bb"),
        "no --pull: the stored one"
    );
    a.ok(&ctx, &["build", "--pull", "-t", "labelled", "."]);
    assert_eq!(
        manifest_digest(&a, "alpine"),
        manifest_digest(&publisher, "tiny"),
        "--pull: the new one"
    );
}

#[test]
fn faults_connection_drop_is_resumed() {
    let Some(reg) = Registry::start("faults_connection_drop_is_resumed", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    // A layer big enough to be cut in the middle.
    let big: String = (0..200_000).map(|i| format!("{i:08}\n")).collect();
    let big: &'static str = Box::leak(big.into_boxed_str());
    import_files(&a, "big", &files(&[("data/big.txt", big)]));
    let proxy = Proxy::start(reg.port, Mode::Pass);
    let target = format!("{}/faults/big:1", proxy.host());
    a.ok(&a.dir, &["push", "big", &target]);
    proxy.set_mode(Mode::DropMidBlob);
    let b = Machine::new(d.path(), "b");
    let o = b.run(&b.dir, &["pull", &target], None);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming"), "{err}");
    let log = proxy.log.lock().unwrap();
    assert!(
        log.requests
            .iter()
            .any(|r| r.contains("/blobs/") && r.contains("[bytes=")),
        "a range request resumed the blob: {:?}",
        log.requests
    );
    drop(log);
    assert_eq!(manifest_digest(&b, &target), manifest_digest(&a, "big"));
    b.assert_store_clean();
    // A server that ignores ranges: the resumed answer starts at byte 0 and the bytes the
    // client has are skipped.
    proxy.set_mode(Mode::DropMidBlobNoRanges);
    let c = Machine::new(d.path(), "c");
    let o = c.run(&c.dir, &["pull", &target], None);
    let (_, err) = text(&o);
    assert!(o.status.success() && err.contains("resuming"), "{err}");
    assert_eq!(manifest_digest(&c, &target), manifest_digest(&a, "big"));
    c.assert_store_clean();
}

#[test]
fn an_interrupted_pull_continues_where_it_stopped() {
    let Some(reg) = Registry::start("an_interrupted_pull_continues_where_it_stopped", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    let big: String = (0..200_000).map(|i| format!("{i:08}\n")).collect();
    let big: &'static str = Box::leak(big.into_boxed_str());
    import_files(&a, "big", &files(&[("data/big.txt", big)]));
    let proxy = Proxy::start(reg.port, Mode::Pass);
    let target = format!("{}/faults/big:1", proxy.host());
    a.ok(&a.dir, &["push", "big", &target]);
    // The pull is killed while the registry stalls in the middle of the layer.
    proxy.set_mode(Mode::HangMidBlob);
    let b = Machine::new(d.path(), "b");
    let mut child = b.spawn(&b.dir, &["pull", &target]);
    let partial = b.store().join("partial");
    let mut kept = 0;
    for _ in 0..400 {
        kept = std::fs::read_dir(&partial)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if kept > 100_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(kept > 100_000, "the partial layer is kept ({kept} bytes)");
    // The next pull asks only for the rest.
    proxy.set_mode(Mode::Pass);
    let o = b.run(&b.dir, &["pull", &target], None);
    let (_, err) = text(&o);
    assert!(o.status.success() && err.contains("continuing at byte"), "{err}");
    let log = proxy.log.lock().unwrap();
    // The layer continues with a range request (the small config may or may not have got
    // its first half onto disk before the kill).
    let from: Vec<u64> = log
        .requests
        .iter()
        .filter_map(|r| r.split("[bytes=").nth(1))
        .map(|r| r.trim_end_matches("-]").parse().unwrap())
        .collect();
    // Regression: this said exactly 2, which fails whenever the config had not reached the
    // disk before the kill (seen on a loaded machine): the layer's range request is the point.
    assert!((1..=2).contains(&from.len()), "{:?}", log.requests);
    assert!(
        from.iter().all(|f| *f > 0) && from.iter().any(|f| *f >= 100_000),
        "{from:?}"
    );
    drop(log);
    assert_eq!(manifest_digest(&b, &target), manifest_digest(&a, "big"));
    assert_eq!(
        std::fs::read_dir(&partial).unwrap().count(),
        0,
        "the partial file is gone"
    );
    b.assert_store_clean();
}

#[test]
fn faults_wrong_digest_and_500_answers() {
    let Some(reg) = Registry::start("faults_wrong_digest_and_500_answers", None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(&a, "tiny", &files(&[("etc/hello", "faults\n")]));
    let proxy = Proxy::start(reg.port, Mode::Pass);
    let target = format!("{}/faults/tiny:1", proxy.host());
    a.ok(&a.dir, &["push", "tiny", &target]);

    // Corrupt blobs: the pull fails, naming the blob; nothing corrupt is stored.
    proxy.set_mode(Mode::CorruptBlob);
    let b = Machine::new(d.path(), "b");
    let err = b.fails(&b.dir, &["pull", &target]);
    assert!(
        err.contains("does not match its digest") && err.contains("nothing was stored"),
        "{err}"
    );
    b.assert_store_clean();
    let layer: serde_json::Value = serde_json::from_str(&a.ok(&a.dir, &["image", "inspect", "tiny"])).unwrap();
    let layer = layer[0]["Manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!b.store().join("blobs/sha256").join(&layer[7..]).exists());
    assert!(b.fails(&b.dir, &["image", "inspect", &target]).contains("no image"));

    // Two 500s: retried, then it works.
    proxy.set_mode(Mode::Fail500(2));
    b.ok(&b.dir, &["pull", &target]);
    assert_eq!(manifest_digest(&b, &target), manifest_digest(&a, "tiny"));
    // Uploads answered 500 twice: retried, the push completes.
    proxy.set_mode(Mode::Fail500Uploads(2));
    import_files(&a, "fresh", &files(&[("etc/hello", "never pushed before\n")]));
    let out = a.ok(
        &a.dir,
        &["push", "fresh", &format!("{}/faults/retried:1", proxy.host())],
    );
    assert!(out.contains("2 uploaded"), "{out}");
    assert_eq!(
        *proxy.mode.lock().unwrap(),
        Mode::Fail500Uploads(0),
        "both failures were hit"
    );
    // Always 500: a clear error after the retries.
    proxy.set_mode(Mode::Fail500(u32::MAX));
    let err = b.fails(&b.dir, &["pull", &target]);
    assert!(
        err.contains("answered 500 Internal Server Error: UNKNOWN: injected failure after 4 attempts"),
        "{err}"
    );
    b.assert_store_clean();
}

#[test]
fn shared_cache_through_a_registry_gives_an_empty_machine_every_hit() {
    let test = "shared_cache_through_a_registry_gives_an_empty_machine_every_hit";
    if !crate::build::can_run_containers(test) {
        return;
    }
    let Some(reg) = Registry::start(test, None) else { return };
    let d = tempfile::tempdir().unwrap();
    let dockerfile = "FROM bb AS build\n\
                      RUN date +%s%N > /stamp && echo compiled > /artifact\n\
                      FROM bb\n\
                      WORKDIR /app\n\
                      COPY --from=build /stamp /artifact ./\n\
                      COPY src/ ./src/\n\
                      RUN cat /app/src/main.txt /app/artifact > /app/out\n\
                      CMD [\"cat\", \"/app/stamp\"]\n";
    let context = |m: &Machine| {
        let ctx = m.dir.join("checkout");
        std::fs::create_dir_all(ctx.join("src")).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(ctx.join("src/main.txt"), "main\n").unwrap();
        ctx
    };
    let cache = format!("type=registry,ref={}/cache/app:main", reg.host());

    // Machine A builds and exports its cache.
    let a = Machine::new(d.path(), "a");
    crate::build::import_busybox(&a.store(), &a.dir);
    let ctx_a = context(&a);
    let o = a.run(&ctx_a, &["build", "-t", "app", "--cache-to", &cache, "."], None);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("exported cache") && err.contains("5 records"), "{err}");
    let stamp_a = a.ok(&a.dir, &["run", "--rm", "app"]);

    // Machine B (empty store, another checkout path) plans: every step hits, and only the
    // cache's manifest and config are fetched (through a counting proxy): no layer.
    let proxy = Proxy::start(reg.port, Mode::Pass);
    let cache = format!("type=registry,ref={}/cache/app:main", proxy.host());
    let blob_gets = |p: &Proxy| {
        let log = p.log.lock().unwrap();
        let n = log
            .requests
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
            .count();
        drop(log);
        p.log.lock().unwrap().requests.clear();
        n
    };
    let b = Machine::new(d.path(), "b");
    let ctx_b = context(&b);
    let o = b.run(&ctx_b, &["plan", "--format", "json", "--cache-from", &cache, "."], None);
    assert_eq!(blob_gets(&proxy), 1, "a plan fetches the cache config and no layer");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("imported cache") && err.contains("base images bb:latest"),
        "{err}"
    );
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["summary"]["misses"], 0, "{out}");
    assert_eq!(plan["summary"]["hits"], plan["summary"]["steps"], "{out}");
    // … and builds without running anything: the stamp is machine A's.
    let o = b.run(&ctx_b, &["build", "-t", "app", "--cache-from", &cache, "."], None);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("---> Using cache").count(), 5, "{err}");
    assert!(!err.contains("Running in"), "no step ran: {err}");
    // The build fetched the layers it reuses: the base's and the five steps' (the config
    // is in the store since the plan).
    let all_layers = blob_gets(&proxy);
    assert!(
        err.contains(&format!("fetched {all_layers} cached layer(s)")),
        "{all_layers}: {err}"
    );
    assert_eq!(b.ok(&b.dir, &["run", "--rm", "app"]), stamp_a);
    b.assert_store_clean();
    assert_eq!(b.ok(&b.dir, &["verify"]).lines().count(), 1);

    // A changed source misses from there on only, with its reason.
    std::fs::write(ctx_b.join("src/main.txt"), "changed\n").unwrap();
    let c = Machine::new(d.path(), "c");
    std::fs::create_dir_all(c.dir.join("x")).unwrap();
    let o = c.run(&ctx_b, &["plan", "--cache-from", &cache, "."], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let misses = out.lines().filter(|l| l.contains("MISS") || l.contains("miss")).count();
    assert!(misses >= 1 && out.contains("src/main.txt"), "{out}");
    // Its build fetches none of the layers of the two steps that rebuild.
    blob_gets(&proxy);
    let o = c.run(&ctx_b, &["build", "--cache-from", &cache, "."], None);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("---> Using cache").count(), 3, "{err}");
    assert_eq!(blob_gets(&proxy), all_layers - 2, "{err}");
    c.assert_store_clean();

    // Not a cache, or no registry at all: a warning, and the plan goes on without it.
    let e = Machine::new(d.path(), "e");
    import_files(&e, "tiny", &files(&[("a", "b\n")]));
    e.ok(&e.dir, &["push", "tiny", &format!("{}/cache/app:image", reg.host())]);
    let o = e.run(
        &ctx_b,
        &[
            "plan",
            "--cache-from",
            &format!("type=registry,ref={}/cache/app:image", reg.host()),
            ".",
        ],
        None,
    );
    let (_, err) = text(&o);
    assert!(o.status.success() && err.contains("is not a slipway cache"), "{err}");
    let err = e.fails(&ctx_b, &["plan", "--cache-from", "type=local,src=/tmp", "."]);
    assert!(err.contains("only type=registry"), "{err}");
}

/// One machine's checkout of a Dockerfile whose RUN uses a cache mount.
fn mount_checkout(m: &Machine, dockerfile: &str) -> PathBuf {
    let ctx = m.dir.join("checkout");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

#[test]
fn cache_mount_contents_travel_through_the_registry_with_mounts_true() {
    let test = "cache_mount_contents_travel_through_the_registry_with_mounts_true";
    if !crate::build::can_run_containers(test) {
        return;
    }
    let Some(reg) = Registry::start(test, None) else { return };
    let d = tempfile::tempdir().unwrap();
    // The RUN "downloads" (a stamp of this machine's run) only when the mount lacks it.
    let writes = "FROM bb\n\
                  RUN --mount=type=cache,target=/root/.cache/dl sh -c \
                  'test -f /root/.cache/dl/pkg || date +%s%N > /root/.cache/dl/pkg; cp /root/.cache/dl/pkg /got'\n";
    // Another machine's change of the command: a miss that looks into the mount.
    let reads = "FROM bb\n\
                 RUN --mount=type=cache,target=/root/.cache/dl sh -c \
                 'cat /root/.cache/dl/pkg > /seen 2>/dev/null || echo empty > /seen'\n";
    let with = format!("type=registry,ref={}/cache/mounts:main,mounts=true", reg.host());
    let without = format!("type=registry,ref={}/cache/mounts:plain", reg.host());
    let from = |spec: &str| spec.trim_end_matches(",mounts=true").to_string();

    // Machine A runs the RUN and exports its cache twice: with the mount and without.
    let a = Machine::new(d.path(), "a");
    crate::build::import_busybox(&a.store(), &a.dir);
    let ctx_a = mount_checkout(&a, writes);
    let o = a.run(
        &ctx_a,
        &["build", "-t", "app", "--cache-to", &with, "--cache-to", &without, "."],
        None,
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 cache mount(s) (1 uploaded)"), "{err}");
    let stamp = a.ok(&a.dir, &["run", "--rm", "app", "cat", "/got"]);
    assert!(!stamp.trim().is_empty());
    // The RUN runs again and leaves the mount as it was: the export uploads nothing new.
    let o = a.run(
        &ctx_a,
        &["build", "--no-cache", "-t", "app", "--cache-to", &with, "."],
        None,
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 cache mount(s) (0 uploaded)"), "{err}");
    assert_eq!(a.ok(&a.dir, &["run", "--rm", "app", "cat", "/got"]), stamp);

    // Machine B (empty store, a changed command: the RUN misses) sees A's files in the mount,
    // restored before the RUN.
    let b = Machine::new(d.path(), "b");
    let ctx_b = mount_checkout(&b, reads);
    let o = b.run(&ctx_b, &["build", "-t", "app", "--cache-from", &from(&with), "."], None);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 cache mount(s) restored when a step that runs uses them"),
        "{err}"
    );
    assert!(
        err.contains("fetched the contents of cache mount(s) /root/.cache/dl"),
        "{err}"
    );
    assert!(
        err.contains("Cache mount /root/.cache/dl: restored from the registry cache"),
        "{err}"
    );
    assert_eq!(b.ok(&b.dir, &["run", "--rm", "app", "cat", "/seen"]), stamp);
    b.assert_store_clean();

    // Without mounts=true in the export, or with mounts=false in the import, the mount
    // starts empty.
    for (name, spec) in [("c", from(&without)), ("e", format!("{},mounts=false", from(&with)))] {
        let m = Machine::new(d.path(), name);
        let ctx = mount_checkout(&m, reads);
        let o = m.run(&ctx, &["build", "-t", "app", "--cache-from", &spec, "."], None);
        let (_, err) = text(&o);
        assert!(o.status.success(), "{err}");
        assert!(!err.contains("restored"), "{spec}: {err}");
        assert_eq!(
            m.ok(&m.dir, &["run", "--rm", "app", "cat", "/seen"]),
            "empty\n",
            "{spec}"
        );
    }

    // Lazily: a build whose RUN comes from the cache fetches no mount and makes no
    // directory for it; its own export carries the registry's contents on.
    let f = Machine::new(d.path(), "f");
    let ctx_f = mount_checkout(&f, writes);
    let carried = format!("type=registry,ref={}/cache/mounts:carried,mounts=true", reg.host());
    let o = f.run(
        &ctx_f,
        &[
            "build",
            "-t",
            "app",
            "--cache-from",
            &from(&with),
            "--cache-to",
            &carried,
            ".",
        ],
        None,
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        !err.contains("cache mount(s) /root") && !err.contains("Running in"),
        "{err}"
    );
    let mounts_dir = f.store().join("cache-mounts");
    let dirs = std::fs::read_dir(&mounts_dir)
        .map(|r| r.filter_map(Result::ok).filter(|e| e.path().is_dir()).count())
        .unwrap_or(0);
    assert_eq!(dirs, 0, "no mount directory was made");
    assert!(err.contains("1 cache mount(s) (0 uploaded)"), "{err}");
    let g = Machine::new(d.path(), "g");
    let ctx_g = mount_checkout(&g, reads);
    g.ok(&ctx_g, &["build", "-t", "app", "--cache-from", &from(&carried), "."]);
    assert_eq!(g.ok(&g.dir, &["run", "--rm", "app", "cat", "/seen"]), stamp);
}

#[test]
fn secrets_and_ssh_sockets_stay_out_of_exported_cache_mounts() {
    let test = "secrets_and_ssh_sockets_stay_out_of_exported_cache_mounts";
    if !crate::build::can_run_containers(test) {
        return;
    }
    let Some(reg) = Registry::start(test, None) else { return };
    let d = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-cache-mount-token-5be1a9";
    let a = Machine::new(d.path(), "a");
    crate::build::import_busybox(&a.store(), &a.dir);
    let file = a.dir.join("token");
    std::fs::write(&file, secret).unwrap();
    let socket = a.dir.join("agent.sock");
    let _agent = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // The secret is read, and mounted inside the cache mount too; so is the agent socket.
    let ctx = mount_checkout(
        &a,
        "FROM bb\n\
         RUN --mount=type=cache,target=/cache \
         --mount=type=secret,id=tok \
         --mount=type=secret,id=tok,target=/cache/token \
         --mount=type=ssh,id=agent,target=/cache/agent.sock \
         sh -c 'cat /run/secrets/tok /cache/token > /dev/null && test -S /cache/agent.sock && echo marker-41c7 > /cache/kept'\n",
    );
    let spec = format!("type=registry,ref={}/cache/secret:main,mounts=true", reg.host());
    let src = format!("id=tok,src={}", file.display());
    let ssh = format!("agent={}", socket.display());
    let o = a.run(
        &ctx,
        &["build", "--secret", &src, "--ssh", &ssh, "--cache-to", &spec, "."],
        None,
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 cache mount(s) (1 uploaded)"), "{err}");
    // Every blob the registry holds, and what each decompresses to.
    let has = |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    let (mut marker, mut blobs) = (false, 0);
    for bytes in reg.blobs() {
        blobs += 1;
        assert!(!has(&bytes, secret), "the secret is in a blob");
        let mut tar = Vec::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut tar)
                .unwrap();
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            zstd::stream::read::Decoder::new(&bytes[..])
                .unwrap()
                .read_to_end(&mut tar)
                .unwrap();
        }
        if !tar.is_empty() {
            assert!(!has(&tar, secret), "the secret is in a blob");
            marker |= has(&tar, "marker-41c7");
            for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
                let entry = entry.unwrap();
                let kind = entry.header().entry_type();
                assert!(
                    kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link(),
                    "{:?} is a {kind:?}",
                    entry.path().unwrap()
                );
            }
        }
    }
    assert!(
        blobs >= 4 && marker,
        "the mount's contents are in the registry ({blobs} blobs)"
    );
}

#[test]
fn multi_platform_index_and_docker_format_images_pull() {
    let test = "multi_platform_index_and_docker_format_images_pull";
    let Some(reg) = Registry::start(test, None) else { return };
    if !have("skopeo", test) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(&a, "one", &files(&[("etc/which", "one\n")]));
    import_files(&a, "two", &files(&[("etc/which", "two\n")]));
    let desc = |name: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&a.ok(&a.dir, &["image", "inspect", name])).unwrap();
        v[0]["ManifestDescriptor"].clone()
    };
    let (one, two) = (desc("one"), desc("two"));
    // An OCI layout (the store's blobs) whose `multi` is an index of both, for two platforms.
    let layout = d.path().join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let cp = Command::new("cp")
        .args([
            "-a",
            a.store().join("blobs").to_str().unwrap(),
            layout.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(cp.success());
    let entry = |m: &serde_json::Value, arch: &str, variant: Option<&str>| {
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"], "platform": platform})
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&one, "arm64", Some("v8")), entry(&two, "amd64", None)],
    });
    let index_bytes = serde_json::to_vec(&index).unwrap();
    use sha2::Digest as _;
    let index_hex = slipway_store_hex(&sha2::Sha256::digest(&index_bytes));
    std::fs::write(layout.join("blobs/sha256").join(&index_hex), &index_bytes).unwrap();
    let named = |m: &serde_json::Value, name: &str| {
        serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "annotations": {"org.opencontainers.image.ref.name": name}})
    };
    let index_desc = serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{index_hex}"), "size": index_bytes.len()});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
            "manifests": [named(&index_desc, "multi"), named(&one, "one")]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let skopeo = |args: &[&str]| {
        let o = Command::new("skopeo").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let multi = format!("{}/multi:1", reg.host());
    skopeo(&[
        "copy",
        "-q",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{multi}"),
    ]);
    let b = Machine::new(d.path(), "b");
    let host_is_amd64 = std::env::consts::ARCH == "x86_64";
    if host_is_amd64 {
        b.ok(&b.dir, &["pull", &multi]);
        assert_eq!(manifest_digest(&b, &multi), two["digest"].as_str().unwrap());
    }
    b.ok(&b.dir, &["pull", "--platform", "linux/arm64", &multi]);
    // A second platform's pull keeps the first: the name is a local index of both (issue 16).
    let for_platform = |p: &str| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&b.ok(&b.dir, &["image", "inspect", "--platform", p, &multi])).unwrap();
        v[0]["ManifestDescriptor"]["digest"].clone()
    };
    assert_eq!(for_platform("linux/arm64"), one["digest"]);
    if host_is_amd64 {
        assert_eq!(for_platform("linux/amd64"), two["digest"]);
    }
    let err = b.fails(&b.dir, &["pull", "--platform", "linux/s390x", &multi]);
    assert!(
        err.contains("no image for linux/s390x (the index has linux/arm64/v8, linux/amd64)"),
        "{err}"
    );
    let err = b.fails(&b.dir, &["pull", "--platform", "linux", &multi]);
    assert!(err.contains("invalid platform"), "{err}");

    // Docker's schema 2 format (skopeo converts): pulled, stored byte for byte.
    let docker = format!("{}/dockerformat:1", reg.host());
    skopeo(&[
        "copy",
        "-q",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &format!("oci:{}:one", layout.display()),
        &format!("docker://{docker}"),
    ]);
    b.ok(&b.dir, &["pull", &docker]);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&b.dir, &["image", "inspect", &docker])).unwrap();
    assert_eq!(
        v[0]["ManifestDescriptor"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    if let Some(s) = skopeo_inspect(&docker, None) {
        assert_eq!(s["Digest"], v[0]["ManifestDescriptor"]["digest"]);
    }
    b.assert_store_clean();
}

#[test]
fn a_failing_mirror_falls_back_to_the_registry() {
    let test = "a_failing_mirror_falls_back_to_the_registry";
    let Some(upstream) = Registry::start(test, None) else {
        return;
    };
    let Some(mirror) = Registry::start(test, None) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let a = Machine::new(d.path(), "a");
    import_files(&a, "tiny", &files(&[("etc/hello", "upstream\n")]));
    let target = format!("{}/team/tiny:1", upstream.host());
    a.ok(&a.dir, &["push", "tiny", &target]);
    // B mirrors the upstream through a registry that lacks the image, then one that is down.
    let b = Machine::new(d.path(), "b");
    let down = free_port();
    b.registries(&format!(
        "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"127.0.0.1:{down}\"\n",
        upstream.host(),
        mirror.host()
    ));
    let o = b.run(&b.dir, &["pull", &target], None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains(&format!("from http://{}", upstream.host())), "{out}");
    assert!(
        err.contains(&format!("mirror {} failed", mirror.host()))
            && err.contains(&format!("mirror 127.0.0.1:{down} failed")),
        "{err}"
    );
    // Once the mirror has it, it is served from there.
    a.ok(&a.dir, &["push", "tiny", &format!("{}/team/tiny:1", mirror.host())]);
    let c = Machine::new(d.path(), "c");
    std::fs::copy(b.dir.join("registries.toml"), c.dir.join("registries.toml")).unwrap();
    let out = c.ok(&c.dir, &["pull", &target]);
    assert!(out.contains(&format!("from http://{}", mirror.host())), "{out}");
    // An invalid registries.toml is an error naming the file.
    std::fs::write(c.dir.join("registries.toml"), "[[registry]]\nlocation = 5\n").unwrap();
    let err = c.fails(&c.dir, &["pull", &target]);
    assert!(err.contains("registries.toml"), "{err}");
}
