//! Container start time: `cargo run --release -p slipway-runner --example start_time -- ROOTFS [N]`
//! runs `true` N times (default 200) on ROOTFS, as a directory and as an overlay lower dir,
//! and prints the mean wall time per container. Needs root.

use slipway_runner::container::{run, ContainerSpec, Network, Rootfs};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let rootfs = std::path::PathBuf::from(args.next().expect("usage: start_time ROOTFS [N]"));
    let n: u32 = args.next().map_or(200, |s| s.parse().expect("N"));
    let tmp = tempfile::tempdir().unwrap();
    let spec = |rootfs: Rootfs, network: Network| ContainerSpec {
        rootfs,
        argv: vec!["/bin/true".into()],
        env: vec!["PATH=/bin".into()],
        workdir: "/".into(),
        uid: 0,
        gid: 0,
        groups: vec![],
        hostname: "bench".into(),
        network: network.clone(),
        mounts: vec![],
        security: Default::default(),
    };
    let time = |label: &str, make: &dyn Fn(u32) -> ContainerSpec| {
        let start = Instant::now();
        for i in 0..n {
            let status = run(&make(i)).unwrap();
            assert!(status.success());
        }
        println!(
            "{label}: {:.2} ms per container",
            start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
        );
    };
    time("dir rootfs, host network", &|_| {
        spec(Rootfs::Dir(rootfs.clone()), Network::Host)
    });
    time("overlay rootfs, host network", &|i| {
        let c = tmp.path().join(i.to_string());
        for sub in ["upper", "work", "merged"] {
            std::fs::create_dir_all(c.join(sub)).unwrap();
        }
        spec(
            Rootfs::Overlay {
                lower: vec![rootfs.clone()],
                upper: c.join("upper"),
                work: c.join("work"),
                merged: c.join("merged"),
            },
            Network::Host,
        )
    });
    time("dir rootfs, network none", &|_| {
        spec(Rootfs::Dir(rootfs.clone()), Network::None)
    });
}
