//! End to end: the network of RUN steps, in a network namespace playing the
//! host (Docker's FORWARD policy DROP set, a route of its own on berth's
//! first default subnet, and an uplink to a namespace playing the internet
//! that has no route back to container subnets, so only NAT reaches it).
//! By default a RUN container has its own namespace on `berth_build`,
//! created on first use, shared by concurrent builds and removed when the
//! last one ends; `none` has only lo, `host` is the host's namespace, and a
//! project network by name puts RUN beside the project's services. The fake
//! host is left exactly as it was.

mod build_common;
mod common;

use std::path::Path;

use berth_testkit::netns::NetnsProcess;
use berth_testkit::{require_root, unique_name};
use build_common::{BackgroundBuild, Server, build_containers, network, value};
use common::upstream::Upstream;
use common::{Env, wait_for};

const UPLINK: &str = "bnup0";
const HOST_IP: &str = "198.51.100.1";
const FAR_IP: &str = "198.51.100.2";

/// The namespace playing the internet, wired to the fake host by a veth
/// pair (`bnup0` on the host side), with no route to anything but the
/// uplink subnet. Its veth goes with it when it is dropped.
fn internet(env: &Env) -> NetnsProcess {
    let far = env.netns.as_ref().unwrap().run(NetnsProcess::spawn);
    let o = env.sh(&format!(
        "ip link add {UPLINK} type veth peer name eth0 netns {pid} && \
         ip addr add {HOST_IP}/24 dev {UPLINK} && ip link set {UPLINK} up && \
         ip route add 172.17.0.0/16 via {FAR_IP}",
        pid = far.pid()
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = far.sh(&format!(
        "ip addr add {FAR_IP}/24 dev eth0 && ip link set eth0 up"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    far
}

fn write(dir: &Path, files: &[(&str, String)]) {
    for (p, text) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A RUN printing `links=` the interfaces of its namespace, sorted.
const LINKS: &str = "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ,)";
/// ... and its IPv4 address on eth0, default gateway and name server.
const ADDR: &str = "$(ip -4 -o addr show eth0 | awk '{print $4}')";
const GATEWAY: &str = "$(ip route | awk '/^default/ {print $3}')";
const NAMESERVER: &str = "$(awk '/^nameserver/ {print $2}' /etc/resolv.conf)";

fn ipv4(cidr: &str) -> std::net::Ipv4Addr {
    cidr.split('/').next().unwrap().parse().unwrap()
}

/// Whether `ip` is in the IPv4 subnet `cidr`.
fn in_subnet(ip: std::net::Ipv4Addr, cidr: &str) -> bool {
    let (net, prefix) = cidr.split_once('/').unwrap();
    let mask = u32::MAX
        .checked_shl(32 - prefix.parse::<u32>().unwrap())
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(net.parse::<std::net::Ipv4Addr>().unwrap()) & mask
}

#[test]
fn run_steps_have_their_own_namespace_on_the_build_network() {
    require_root!();
    let env = Env::with_network();
    let o = env.sh("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
    assert!(o.status.success());
    let far = internet(&env);
    let host_ns = env.netns.as_ref().unwrap().path();
    // The host's server holds its answer back: the RUN talking to it keeps
    // the first build running while the others come and go.
    let host = Server::start(&host_ns, &format!("{HOST_IP}:0"), "host", true);
    let far_server = Server::start(
        &format!("/proc/{}/ns/net", far.pid()),
        &format!("{FAR_IP}:0"),
        "far",
        false,
    );
    // The host resolves through a stub on its loopback, as with
    // systemd-resolved: RUN reaches it only through berth's DNS.
    let upstream = Upstream::start(&env, "outside.example", "203.0.113.9".parse().unwrap(), "");
    let before = env.snapshot();

    let dir = env.root.path().join("projects").join(unique_name("bn"));
    let compose = "services:\n  probe:\n    build: ./probe\n  fails:\n    build: ./fails\n  quick:\n    build: ./quick\n  offline:\n    build:\n      context: ./links\n      network: none\n  hostnet:\n    build:\n      context: ./links\n      network: host\n";
    write(
        &dir,
        &[
            ("compose.yaml", compose.to_owned()),
            (
                "probe/Dockerfile",
                format!(
                    "FROM busybox:latest\n\
                     RUN echo \"addr={ADDR}\"; echo \"route={GATEWAY}\"; echo \"dns={NAMESERVER}\"; \
                     echo \"links={LINKS}\"; \
                     echo \"resolved=$(nslookup outside.example | awk '/^Address/ && !/:53/ {{print $NF}}' | tail -n 1)\"; \
                     echo \"host=$(nc -w 120 {HOST_IP} {})\"; echo \"far=$(nc -w 10 {FAR_IP} {})\"\n",
                    host.addr.port(),
                    far_server.addr.port()
                ),
            ),
            (
                "fails/Dockerfile",
                "FROM busybox:latest\nRUN echo \"failing={ADDR}\"; exit 3\n"
                    .replace("{ADDR}", ADDR),
            ),
            (
                "quick/Dockerfile",
                format!("FROM busybox:latest\nRUN echo \"quick={ADDR}\"\n"),
            ),
            (
                "links/Dockerfile",
                format!("FROM busybox:latest\nRUN echo \"links={LINKS}\"\n"),
            ),
        ],
    );
    let plain = |svc: &'static str| -> Vec<&'static str> {
        vec!["--progress", "plain", "build", "--no-cache", svc]
    };

    // The first berth command starts the monitor, which starts the DNS
    // server with this environment.
    let vars = [("BERTH_HOST_RESOLV_CONF", upstream.conf.as_path())];
    let probe = BackgroundBuild::start_with(&env, &dir, &plain("probe"), &vars);
    wait_for("the probe's RUN to reach the host", || {
        !host.peers().is_empty()
    });
    let peer = host.peers()[0];
    let net = network(&env, "berth_build").expect("the build network exists during the build");
    let subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_owned();
    let gateway = net["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoints = |n: &serde_json::Value| -> Vec<String> {
        n["Containers"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["IPv4Address"].as_str().unwrap().to_owned())
            .collect()
    };
    let probe_addr = endpoints(&net);
    assert_eq!(probe_addr.len(), 1, "{net}");
    assert_eq!(ipv4(&probe_addr[0]).to_string(), peer.to_string());
    assert!(
        !in_subnet("172.17.0.1".parse().unwrap(), &subnet),
        "the build subnet {subnet} overlaps the host's route to 172.17.0.0/16"
    );

    // A failing step and a passing one on the same network meanwhile: each
    // gives its address back, and neither takes the network away.
    let o = env.berth(&dir, &plain("fails"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("exit code: 3"), "{err}");
    let failing = value(&err, "failing").unwrap_or_default().to_owned();
    assert!(in_subnet(ipv4(&failing), &subnet), "{err}");
    let (_, log) = env.ok_out(&dir, &plain("quick"));
    let quick = value(&log, "quick").unwrap();
    assert!(in_subnet(ipv4(quick), &subnet), "{log}");
    assert_ne!(quick, probe_addr[0]);
    // `network prune` leaves a network a RUN container is attached to, and
    // `network rm` refuses it.
    env.ok(env.root.path(), &["network", "prune", "-f"]);
    let o = env.berth(env.root.path(), &["network", "rm", "berth_build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("active endpoints"),
        "{err}"
    );
    let net = network(&env, "berth_build").expect("still used by the probe");
    assert_eq!(endpoints(&net), probe_addr);
    assert_eq!(build_containers(&env).len(), 1);

    host.open();
    let (ok, log) = probe.finish();
    assert!(ok, "{log}");
    assert_eq!(value(&log, "addr"), Some(probe_addr[0].as_str()), "{log}");
    assert_eq!(value(&log, "route"), Some(gateway.as_str()), "{log}");
    assert_eq!(
        value(&log, "dns"),
        Some(gateway.as_str()),
        "berth's DNS on the gateway: {log}"
    );
    assert_eq!(value(&log, "links"), Some("eth0,lo,"), "{log}");
    assert_eq!(
        value(&log, "resolved"),
        Some("203.0.113.9"),
        "an outside name through the host's resolver: {log}"
    );
    assert_eq!(
        value(&log, "host"),
        Some(format!("host saw {peer}").as_str()),
        "{log}"
    );
    // The internet has no route back to the build subnet: only NAT through
    // the host's uplink address gets an answer.
    assert_eq!(
        value(&log, "far"),
        Some(format!("far saw {HOST_IP}").as_str()),
        "{log}"
    );
    assert!(
        network(&env, "berth_build").is_none(),
        "the last build removes the build network"
    );
    assert!(build_containers(&env).is_empty());

    // `none`: loopback only; `host`: the (fake) host's own interfaces.
    let (_, log) = env.ok_out(&dir, &plain("offline"));
    assert_eq!(value(&log, "links"), Some("lo,"), "{log}");
    let (_, log) = env.ok_out(&dir, &plain("hostnet"));
    let links = value(&log, "links").unwrap_or_default();
    assert!(links.split(',').any(|l| l == UPLINK), "{log}");
    assert!(network(&env, "berth_build").is_none());

    let leaks = env.leftovers(&before);
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
    drop((far_server, far, upstream));
}

#[test]
fn a_named_network_puts_run_beside_the_services_and_an_unknown_one_is_an_error() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let name = unique_name("bnn");
    let compose = format!(
        "services:\n  web:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"echo hi-from-web > /tmp/index.html; httpd -f -p 80 -h /tmp\"]\n    init: true\n    networks: [front]\n  tool:\n    build:\n      context: ./tool\n      network: {name}_front\n  lost:\n    build:\n      context: ./tool\n      network: nosuch-net\nnetworks:\n  front: {{}}\n"
    );
    let dir = env.project(&name, &compose);
    write(
        &dir,
        &[(
            "tool/Dockerfile",
            format!(
                "FROM busybox:latest\n\
                 RUN echo \"addr={ADDR}\"; echo \"dns={NAMESERVER}\"; \
                 for i in $(seq 50); do page=$(printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80 | tail -n 1); \
                 [ -n \"$page\" ] && break; sleep 0.1; done; echo \"page=$page\"\n"
            ),
        )],
    );
    env.ok(&dir, &["up", "-d", "web"]);
    let front = network(&env, &format!("{name}_front")).unwrap();
    let subnet = front["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    let gateway = front["IPAM"]["Config"][0]["Gateway"].as_str().unwrap();
    let (_, log) = env.ok_out(&dir, &["--progress", "plain", "build", "tool"]);
    let addr = value(&log, "addr").unwrap_or("0.0.0.0/0");
    assert!(in_subnet(ipv4(addr), subnet), "{log}");
    assert_eq!(value(&log, "dns"), Some(gateway), "{log}");
    assert_eq!(
        value(&log, "page"),
        Some("hi-from-web"),
        "RUN finds the service by name: {log}"
    );
    let after = network(&env, &format!("{name}_front")).unwrap();
    assert_eq!(
        after["Containers"].as_object().unwrap().len(),
        1,
        "only web is left on the network: {after}"
    );
    assert!(
        network(&env, "berth_build").is_none(),
        "a named network needs no build network"
    );

    let o = env.berth(&dir, &["build", "lost"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("network nosuch-net not found"),
        "{err}"
    );
    assert!(build_containers(&env).is_empty());

    env.ok(&dir, &["down", "-t", "1"]);
    let leaks = env.leftovers(&before);
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}
