//! The client against a real `docker-registry` (distribution 2.8) on loopback: chunked and
//! monolithic uploads, existence checks, downloads into another store. Skips with a note
//! when `docker-registry` is not installed.

use slipway_registry::config::RegistriesConfig;
use slipway_registry::pull::fetch_blob;
use slipway_registry::push::{blob_exists, push_blobs, BlobOutcome, PushOptions};
use slipway_registry::{Client, ClientConfig, NoProgress};
use slipway_store::{Descriptor, Store};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Registry {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Option<Registry> {
    let installed = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("docker-registry").is_file()));
    if !installed {
        eprintln!("note: skipping (needs docker-registry: apt-get install docker-registry)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry { port, child, _dir: dir };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(reg);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("docker-registry did not start on port {port}");
}

#[test]
fn chunked_and_monolithic_uploads_download_verified() {
    let Some(reg) = start() else { return };
    let d = tempfile::tempdir().unwrap();
    let a = Store::open(d.path().join("a")).unwrap();
    // One blob below the chunk size, one spanning several chunks (with a short last chunk).
    let small = b"small blob".to_vec();
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let blobs: Vec<Descriptor> = [&small, &big]
        .iter()
        .map(|b| Descriptor {
            media_type: "application/octet-stream".into(),
            digest: a.put_blob(b).unwrap(),
            size: b.len() as u64,
            annotations: BTreeMap::new(),
        })
        .collect();
    let client = Client::new(ClientConfig {
        registries: RegistriesConfig::default(),
        ..ClientConfig::default()
    });
    let ep = client.registries().endpoint(&format!("127.0.0.1:{}", reg.port));
    assert_eq!(ep.base, format!("http://127.0.0.1:{}", reg.port));
    let options = PushOptions {
        jobs: 2,
        chunk_size: 256 * 1024,
    };
    assert!(!blob_exists(&client, &ep, "t/blobs", &blobs[1].digest, false).unwrap());
    let outcomes = push_blobs(&client, &a, &ep, "t/blobs", &blobs, &options, &NoProgress).unwrap();
    assert_eq!(outcomes, [BlobOutcome::Uploaded, BlobOutcome::Uploaded]);
    for b in &blobs {
        assert!(blob_exists(&client, &ep, "t/blobs", &b.digest, false).unwrap());
    }
    let again = push_blobs(&client, &a, &ep, "t/blobs", &blobs, &options, &NoProgress).unwrap();
    assert_eq!(again, [BlobOutcome::Existed, BlobOutcome::Existed]);
    // Mounted into another repository: the store knows where they are.
    let mounted = push_blobs(&client, &a, &ep, "t/other", &blobs, &options, &NoProgress).unwrap();
    assert_eq!(mounted, [BlobOutcome::Mounted, BlobOutcome::Mounted]);

    let b = Store::open(d.path().join("b")).unwrap();
    for blob in &blobs {
        fetch_blob(&client, &b, &ep, "t/other", blob, &NoProgress).unwrap();
        assert_eq!(b.get_blob(&blob.digest).unwrap(), a.get_blob(&blob.digest).unwrap());
    }
    // A blob the registry lacks: a clear error, nothing stored.
    let absent = Descriptor {
        media_type: "application/octet-stream".into(),
        digest: slipway_store::Digest::of(b"absent"),
        size: 6,
        annotations: BTreeMap::new(),
    };
    let e = fetch_blob(&client, &b, &ep, "t/other", &absent, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("does not have it"), "{e}");
    assert!(!b.has_blob(&absent.digest));
}
