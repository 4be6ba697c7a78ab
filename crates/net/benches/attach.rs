//! Bench: time to attach one container to a berth network — veth pair
//! born in the container's namespace, addresses, default route, and the
//! rules of one published port — through berth's real code path
//! (`attach::attach`, `ports::publish_for`; the lease, taken when the
//! container is created, is timed apart), against
//! Podman's per-container path on Debian 12 (the CNI `bridge` + `portmap`
//! plugins with host-local IPAM) in the same run. Everything runs inside a
//! throwaway network namespace that plays the host.
//!
//!     flock /tmp/berth-bench.lock cargo bench -p berth-net --bench attach -- [--runs N]
//!
//! (or benches/attach.sh). Prints medians, p90 and the ratio; target: the
//! whole berth attach under 3 ms median. As root. `BERTH_PORTS_NAT=iptables`
//! times the iptables fallback for published ports instead of nf_tables.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_net::attach::{attach, detach};
use berth_net::network::{NetworkSpec, Networks};
use berth_net::ports::{self, PortRequest};
use berth_store::Root;
use berth_testkit::netns::{FakeHost, NetnsProcess};

const TARGET: Duration = Duration::from_millis(3);
const CNI_DIR: &str = "/usr/lib/cni";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(name: &str, v: &mut [Duration]) -> Duration {
    v.sort();
    let med = v[v.len() / 2];
    let p90 = v[v.len() * 9 / 10];
    println!(
        "{name:<44} median {:7.3} ms   p90 {:7.3} ms   (n={})",
        ms(med),
        ms(p90),
        v.len()
    );
    med
}

/// berth: lease + veth/addresses/route + one published port, per container.
fn bench_berth(runs: usize) -> (Duration, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path());
    let nets = Networks::new(&root);
    let net = nets
        .ensure(&NetworkSpec {
            name: "bench_default".into(),
            ..Default::default()
        })
        .unwrap();
    let (mut total, mut lease_t, mut link_t, mut rules_t, mut down_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs + 5 {
        let c = NetnsProcess::spawn();
        let id = format!("{:010x}bench", i + 1);
        let req = PortRequest {
            host_ip: None,
            host_ports: Some((20000 + i as u16, 20000 + i as u16)),
            container_port: 80,
            protocol: "tcp".into(),
        };
        let t0 = Instant::now();
        let lease = nets.lease(&net.name, &id, None, None).unwrap();
        let t1 = Instant::now();
        let att = Networks::attachment_for(&net, &id, 0, &lease, true, None);
        attach(c.pid(), std::slice::from_ref(&att)).unwrap();
        let t2 = Instant::now();
        ports::publish_for(&root, &id, "web", lease.ipv4, None, &[req]).unwrap();
        let t3 = Instant::now();
        ports::unpublish(&root, &id).unwrap();
        detach(std::slice::from_ref(&att)).unwrap();
        nets.release(&net.name, &id).unwrap();
        let t4 = Instant::now();
        if i >= 5 {
            // The first few warm caches (binaries, page cache).
            lease_t.push(t1 - t0);
            link_t.push(t2 - t1);
            rules_t.push(t3 - t2);
            total.push(t3 - t1);
            down_t.push(t4 - t3);
        }
    }
    nets.remove(&net.name).unwrap();
    stats(
        "berth: lease (at create; IPAM, durable write)",
        &mut lease_t,
    );
    stats("berth: veth + addresses + route (netlink)", &mut link_t);
    let via = if std::env::var(ports::PORTS_NAT_VAR).is_ok_and(|v| v == "iptables") {
        "berth: published port rules (iptables)"
    } else {
        "berth: published port rules (nf_tables)"
    };
    stats(via, &mut rules_t);
    stats("berth: teardown", &mut down_t);
    let link = link_t[link_t.len() / 2];
    (
        stats("berth: attach = veth/addresses/route + rules", &mut total),
        link,
    )
}

fn cni(plugin: &str, cmd: &str, id: &str, netns: &str, conf: &serde_json::Value) -> Vec<u8> {
    let mut child = Command::new(format!("{CNI_DIR}/{plugin}"))
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", CNI_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CNI_DIR}/{plugin}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{plugin} {cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Podman's CNI path: bridge (veth, addresses, routes, masquerade) then
/// portmap (the published port), per container.
fn bench_cni(runs: usize) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let bridge = serde_json::json!({
        "cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cnibench0",
        "isGateway": true, "ipMasq": true, "hairpinMode": true,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.89.0.0/16", "gateway": "10.89.0.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}], "dataDir": data.path()},
    });
    let mut total = Vec::new();
    for i in 0..runs + 5 {
        let c = NetnsProcess::spawn();
        let ns = format!("/proc/{}/ns/net", c.pid());
        let id = format!("bench{i}");
        let t0 = Instant::now();
        let prev: serde_json::Value =
            serde_json::from_slice(&cni("bridge", "ADD", &id, &ns, &bridge)).unwrap();
        let portmap = serde_json::json!({
            "cniVersion": "1.0.0", "name": "bench", "type": "portmap",
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": [{"hostPort": 21000 + i, "containerPort": 80, "protocol": "tcp"}]},
            "prevResult": prev,
        });
        cni("portmap", "ADD", &id, &ns, &portmap);
        let t1 = Instant::now();
        cni("portmap", "DEL", &id, &ns, &portmap);
        let mut del = bridge.clone();
        del["prevResult"] = prev;
        cni("bridge", "DEL", &id, &ns, &del);
        if i >= 5 {
            total.push(t1 - t0);
        }
    }
    let _ = Command::new("ip")
        .args(["link", "del", "cnibench0"])
        .status();
    stats("podman's CNI: bridge + portmap ADD", &mut total)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks what the harness has
    }
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("attach bench: needs root (namespaces, bridges, iptables)");
        std::process::exit(2);
    }
    let host = FakeHost::new();
    // What any rule change costs at least here: starting one process.
    let mut floor: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            Command::new("/bin/true").status().unwrap();
            t.elapsed()
        })
        .collect();
    stats("floor: spawn /bin/true", &mut floor);
    let (berth, link) = host.run(|| bench_berth(runs));
    let cni_path = std::path::Path::new(CNI_DIR).join("bridge").exists();
    let cni = cni_path.then(|| host.run(|| bench_cni(runs)));
    println!();
    match cni {
        Some(c) => println!(
            "ratio: berth attaches {:.1}x faster than CNI bridge+portmap",
            c.as_secs_f64() / berth.as_secs_f64()
        ),
        None => {
            println!("(no CNI plugins in {CNI_DIR}: apt-get install containernetworking-plugins)")
        }
    }
    println!(
        "target: attach under {} ms median: {} ({:.3} ms; links and routes alone {:.3} ms)",
        ms(TARGET),
        if berth < TARGET { "met" } else { "NOT met" },
        ms(berth),
        ms(link)
    );
}
