//! End to end: published ports as `ports:` declares them (short and long
//! syntax, host IPs, ranges, ephemeral ports, UDP), what `port` and `ps`
//! report, a host port already taken, and BERTH_DEFAULT_HOST_IP, in a
//! network namespace that plays the host (Docker's FORWARD policy DROP set).

mod common;

use std::path::Path;

use berth_testkit::require_root;
use common::Env;

/// What a project could leave behind in the fake host: links, addresses,
/// routes, iptables and ip6tables rules, mounts, cgroups, and berth's
/// nf_tables table.
fn leftovers(env: &Env, before: &berth_testkit::host::Snapshot) -> Vec<String> {
    let mut d = before.diff(&env.snapshot());
    let host = env.netns.as_ref().unwrap();
    for f in berth_net::firewall::Family::all() {
        let tables = host.run(|| berth_net::firewall::nft::tables(f).unwrap_or_default());
        if tables.iter().any(|t| t == berth_net::firewall::nft::TABLE) {
            d.push(format!("nf_tables table berth left ({f:?})"));
        }
    }
    d
}

const HOST_IP: &str = "198.51.100.7";

const WEB: &str = r#"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo page > /tmp/index.html; httpd -f -p 80 -h /tmp"]
    init: true
    ports:
      - "18380:80"
      - "127.0.0.1::80"
      - target: 80
        published: "18381-18385"
        host_ip: 127.0.0.1
        protocol: tcp
      - "18386:5353/udp"
"#;

/// Fetches `/index.html` from `addr port` with busybox nc in the fake host;
/// the last line of the answer.
fn get(env: &Env, addr: &str, port: u16) -> String {
    let o = env.sh(&format!(
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {addr} {port} | tail -n 1"
    ));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn ps_ports(env: &Env, dir: &Path) -> Vec<String> {
    env.ok(dir, &["ps", "--format", "json"])
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            j["Ports"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn ports_are_published_reported_and_refused_when_taken() {
    require_root!();
    let mut env = Env::with_network();
    let setup = env.sh(&format!(
        "iptables -P FORWARD DROP && ip link add bthlan0 type veth peer name bthlan1 && \
         echo 1 > /proc/sys/net/ipv6/conf/bthlan0/disable_ipv6 && \
         echo 1 > /proc/sys/net/ipv6/conf/bthlan1/disable_ipv6 && \
         ip addr add {HOST_IP}/24 dev bthlan0 && ip link set bthlan0 up && ip link set bthlan1 up"
    ));
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let before = env.snapshot();
    let dir = env.project("pw", WEB);
    env.ok(&dir, &["up", "-d"]);

    // What ps and port report, ephemeral port included.
    let ports = ps_ports(&env, &dir);
    assert_eq!(ports.len(), 1);
    let p = &ports[0];
    for want in [
        "0.0.0.0:18380->80/tcp",
        "127.0.0.1:18381->80/tcp",
        "0.0.0.0:18386->5353/udp",
    ] {
        assert!(p.contains(want), "{want} in {p}");
    }
    let ephemeral: u16 = p
        .split(", ")
        .find_map(|m| {
            let (host, target) = m.split_once("->")?;
            let port = host.strip_prefix("127.0.0.1:")?;
            (target == "80/tcp" && port != "18381").then(|| port.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no ephemeral port in {p}"));
    assert_eq!(env.ok(&dir, &["port", "web", "80"]).trim(), "0.0.0.0:18380");
    let udp = env.ok(&dir, &["port", "--protocol", "udp", "web", "5353"]);
    assert_eq!(udp.trim(), "0.0.0.0:18386");

    // Reachable from the host on loopback and on its own address, and from
    // the container itself through the host address (hairpin).
    let mut page = String::new();
    for _ in 0..50 {
        page = get(&env, "127.0.0.1", 18380);
        if page == "page" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(page, "page", "127.0.0.1:18380");
    assert_eq!(get(&env, HOST_IP, 18380), "page");
    assert_eq!(get(&env, "127.0.0.1", ephemeral), "page");
    assert_eq!(get(&env, "127.0.0.1", 18381), "page");
    assert_eq!(get(&env, HOST_IP, 18381), "", "published on 127.0.0.1 only");
    let o = env.berth(
        &dir,
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            &format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {HOST_IP} 18380 | tail -n 1"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "page", "hairpin");

    // A host port already taken: a clear error naming port and service,
    // and nothing running or published for it.
    let taken = "services:\n  web2:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n    ports: [\"18380:80\"]\n";
    let dir2 = env.project("pt", taken);
    let o = env.berth(&dir2, &["up", "-d"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("18380") && err.contains("web2") && err.contains("already allocated"),
        "{err}"
    );
    assert!(ps_ports(&env, &dir2).is_empty(), "nothing running");
    assert_eq!(
        get(&env, "127.0.0.1", 18380),
        "page",
        "the first project's port is untouched"
    );
    env.ok(&dir2, &["down"]);

    // BERTH_DEFAULT_HOST_IP=127.0.0.1: ports without a host IP stay on loopback.
    let local = "services:\n  web3:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"echo three > /tmp/index.html; httpd -f -p 80 -h /tmp\"]\n    init: true\n    ports: [\"18390:80\"]\n";
    let dir3 = env.project("pl", local);
    let o = env
        .command(&dir3, &["up", "-d"])
        .env("BERTH_DEFAULT_HOST_IP", "127.0.0.1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ps_ports(&env, &dir3), ["127.0.0.1:18390->80/tcp"]);
    let mut three = String::new();
    for _ in 0..50 {
        three = get(&env, "127.0.0.1", 18390);
        if three == "three" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(three, "three");
    assert_eq!(get(&env, HOST_IP, 18390), "");
    let o = env
        .command(&dir3, &["up", "-d", "--force-recreate"])
        .env("BERTH_DEFAULT_HOST_IP", "not-an-ip")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("BERTH_DEFAULT_HOST_IP"),
        "{err}"
    );

    env.ok(&dir3, &["down", "-t", "1"]);
    env.ok(&dir, &["down", "-t", "1"]);
    assert_eq!(leftovers(&env, &before), Vec::<String>::new());
    env.sh("ip link del bthlan0");
}
