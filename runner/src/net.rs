//! Network namespaces with outbound access, for RUN steps and `slipway run`: a new,
//! empty network namespace with pasta (Debian's `passt`) attached. pasta is a userspace
//! network stack: it gives the namespace a tap interface with the host's addresses and
//! routes, and turns the container's connections into ordinary sockets of the host, so
//! nothing on the host (no bridge, no iptables, no veth) is configured and the container
//! never reaches the host's own network namespace. <https://passt.top/>
//!
//! What the container cannot reach: the host's loopback services (`--no-map-gw`: the
//! gateway address is the real gateway, not the host; `-T none -U none`: no port of the
//! host's loopback is forwarded in), abstract unix sockets (they belong to a network
//! namespace), and the host's network configuration (a namespace of its own, and no
//! CAP_NET_ADMIN). Published ports (`-p`) are forwarded from the host into the namespace.
//!
//! pasta runs as a child of a thread of ours that lives as long as the [`Namespace`]
//! (PR_SET_PDEATHSIG ties pasta to that thread, so a killed `slipway` takes it along), in
//! the foreground; its pid file is our pipe, and pasta writes it once the namespace is
//! configured: that line is the signal that the network is ready.

use crate::sys::{self, Linux, Sys};
use nix::sched::CloneFlags;
use std::io::{self, BufRead, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Stdio};

/// A port published from the host into the container (`-p [IP:]HOST:CONTAINER[/udp]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The host address to listen on (all when `None`).
    pub host_ip: Option<String>,
    pub host: u16,
    pub container: u16,
    pub udp: bool,
}

impl Port {
    /// Docker's `-p` forms: `8080:80`, `127.0.0.1:8080:80`, `80` (same port), `/udp` or `/tcp`.
    pub fn parse(spec: &str) -> io::Result<Port> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid port {spec:?}: expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]"),
            )
        };
        let (ports, proto) = match spec.rsplit_once('/') {
            Some((p, "udp")) => (p, true),
            Some((p, "tcp")) => (p, false),
            Some(_) => return Err(bad()),
            None => (spec, false),
        };
        let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
        let num = |s: &str| s.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
        let (host_ip, host, container) = match parts.as_slice() {
            [c] => (None, num(c)?, num(c)?),
            [c, h] => (None, num(h)?, num(c)?),
            [c, h, ip] => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let parsed: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
                (Some(parsed.to_string()), num(h)?, num(c)?)
            }
            _ => return Err(bad()),
        };
        Ok(Port {
            host_ip,
            host,
            container,
            udp: proto,
        })
    }

    /// pasta's form: `[ADDR/]HOST:CONTAINER`.
    fn pasta_spec(&self) -> String {
        let addr = self.host_ip.as_ref().map(|a| format!("{a}/")).unwrap_or_default();
        format!("{addr}{}:{}", self.host, self.container)
    }
}

/// pasta's arguments for a namespace that is the target's fd 3.
pub fn pasta_args(ports: &[Port]) -> Vec<String> {
    let list = |udp: bool| {
        let v: Vec<String> = ports.iter().filter(|p| p.udp == udp).map(Port::pasta_spec).collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(",")
        }
    };
    let mut args: Vec<String> = [
        // pasta drops to "nobody" by default, which then cannot open the namespace.
        "--runas",
        "0",
        "--foreground",
        "--quiet",
        "--config-net",
        "--no-map-gw",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--tcp-ports".into(), list(false), "--udp-ports".into(), list(true)]);
    // Nothing of the host's loopback is forwarded into the namespace.
    args.extend(["--tcp-ns", "none", "--udp-ns", "none"].map(String::from));
    args.extend(["--pid", "/dev/stdout", "--netns", "/proc/self/fd/3"].map(String::from));
    args
}

/// A network namespace with outbound access; pasta stops when this is dropped.
#[derive(Debug)]
pub struct Namespace {
    fd: OwnedFd,
    pasta: nix::unistd::Pid,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Namespace {
    /// A new network namespace with pasta attached, once pasta has configured it.
    /// `NotFound` when pasta is not installed.
    pub fn start(ports: &[Port]) -> io::Result<Namespace> {
        // A thread of its own makes the namespace (unshare changes the calling thread's),
        // so this thread stays in the host's namespace for pasta.
        let fd = std::thread::spawn(|| -> io::Result<OwnedFd> {
            Linux.unshare(CloneFlags::CLONE_NEWNET)?;
            let f = std::fs::File::open("/proc/thread-self/ns/net")?;
            Ok(OwnedFd::from(f))
        })
        .join()
        .map_err(|_| io::Error::other("network namespace thread panicked"))??;
        let args = pasta_args(ports);
        let ns = fd.try_clone()?;
        let (tx, rx) = std::sync::mpsc::channel::<io::Result<nix::unistd::Pid>>();
        let thread = std::thread::Builder::new()
            .name("pasta".into())
            .spawn(move || run_pasta(&args, ns, tx))?;
        match rx.recv() {
            Ok(Ok(pasta)) => Ok(Namespace {
                fd,
                pasta,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("pasta thread ended without an answer"))
            }
        }
    }

    /// The namespace, for setns(2).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pasta, nix::sys::signal::Signal::SIGTERM);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pasta thread: starts pasta, reports its pid once the namespace is ready, then
/// waits for it to end (the thread must outlive pasta: PR_SET_PDEATHSIG fires when the
/// thread that forked it ends).
fn run_pasta(args: &[String], ns: OwnedFd, tx: std::sync::mpsc::Sender<io::Result<nix::unistd::Pid>>) {
    let mut cmd = Command::new("pasta");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match sys::spawn_with_fd3(&mut cmd, &ns) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let _ = tx.send(Err(io::Error::new(
                io::ErrorKind::NotFound,
                "pasta (Debian's passt) is not installed",
            )));
            return;
        }
        Err(e) => {
            let _ = tx.send(Err(io::Error::new(e.kind(), format!("cannot start pasta: {e}"))));
            return;
        }
    };
    drop(ns);
    let mut line = String::new();
    let mut out = io::BufReader::new(child.stdout.take().expect("piped"));
    let ready = out
        .read_line(&mut line)
        .ok()
        .and_then(|_| line.trim().parse::<i32>().ok());
    let mut err = child.stderr.take().expect("piped");
    match ready {
        Some(pid) => {
            let _ = tx.send(Ok(nix::unistd::Pid::from_raw(pid)));
            // Keep draining pasta's output so it never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink);
            let _ = out.read_to_end(&mut sink);
        }
        None => {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = child.kill();
            let status = child.wait();
            let text: Vec<&str> = text.lines().filter(|l| !l.starts_with("Failed to send")).collect();
            let _ = tx.send(Err(io::Error::other(format!(
                "pasta did not configure the network namespace ({}): {}",
                status.map(|s| s.to_string()).unwrap_or_default(),
                text.join("; ")
            ))));
            return;
        }
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_docker() {
        let p = |s: &str| Port::parse(s).map(|p| p.pasta_spec() + if p.udp { "/udp" } else { "" });
        assert_eq!(p("8080:80").unwrap(), "8080:80");
        assert_eq!(p("80").unwrap(), "80:80");
        assert_eq!(p("127.0.0.1:8080:80/udp").unwrap(), "127.0.0.1/8080:80/udp");
        assert_eq!(p("[::1]:8080:80/tcp").unwrap(), "::1/8080:80");
        let e = Port::parse("8080:80/sctp").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid port \"8080:80/sctp\": expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]"
        );
        assert!(Port::parse("x:80").is_err());
        assert!(Port::parse("0:80").is_err());
    }

    #[test]
    fn pasta_forwards_only_published_ports_and_nothing_of_the_host_loopback() {
        let ports = [Port::parse("8080:80").unwrap(), Port::parse("53:53/udp").unwrap()];
        expect_test::expect![[r#"--runas 0 --foreground --quiet --config-net --no-map-gw --tcp-ports 8080:80 --udp-ports 53:53 --tcp-ns none --udp-ns none --pid /dev/stdout --netns /proc/self/fd/3"#]]
        .assert_eq(&pasta_args(&ports).join(" "));
        let none = pasta_args(&[]).join(" ");
        assert!(none.contains("--tcp-ports none --udp-ports none"), "{none}");
    }
}
