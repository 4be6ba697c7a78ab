//! End to end: Compose networks as users see them, each test in a network
//! namespace that plays the host (with Docker's FORWARD policy DROP set):
//! names between services, isolation between networks, outside names
//! through the host's resolver, IPv6 and AAAA, network_mode, and
//! `berth network`, with the fake host left exactly as it was.

mod common;

use std::path::Path;

use berth_testkit::require_root;
use common::Env;
use common::upstream::Upstream;

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

fn berth_with(
    env: &Env,
    dir: &Path,
    vars: &[(&str, &Path)],
    args: &[&str],
) -> std::process::Output {
    let mut c = env.command(dir, args);
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `script` retried for up to 5 s until it succeeds (servers take a moment
/// to listen after `up -d` returns).
fn retry(script: &str) -> String {
    format!("for i in $(seq 50); do ( {script} ) && exit 0; sleep 0.1; done; exit 1")
}

/// A shell command fetching `/index.html` from `host` port 80 over TCP
/// (busybox nc: Debian's static busybox wget crashes) and succeeding when
/// the page is `expect`.
fn http_get(host: &str, expect: &str) -> String {
    format!(
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80 | grep -x '{expect}'"
    )
}

fn exec(env: &Env, dir: &Path, service: &str, script: &str) -> (bool, String) {
    let o = env.berth(dir, &["exec", "-T", service, "sh", "-c", script]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

const NAMES: &str = r#"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hi-from-web > /tmp/index.html; httpd -f -p 80 -h /tmp"]
    init: true
    networks:
      front:
        aliases: [www]
  client:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    networks: [front]
  outsider:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    networks: [back]
networks:
  front: {}
  back: {}
"#;

#[test]
fn services_reach_each_other_by_name_and_nothing_across_networks() {
    require_root!();
    let mut env = Env::with_network();
    let out = env.sh("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
    assert!(out.status.success());
    let upstream = Upstream::start(
        &env,
        "outside.example",
        "203.0.113.9".parse().unwrap(),
        "search corp.example\n",
    );
    let before = env.snapshot();
    let dir = env.project("nm", NAMES);
    let vars = [("BERTH_HOST_RESOLV_CONF", upstream.conf.as_path())];
    let o = berth_with(&env, &dir, &vars, &["up", "-d"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // By service name, container name and alias: ping and a TCP connection.
    for name in ["web", "nm-web-1", "www"] {
        let script = format!(
            "ping -c1 -W2 {name} >/dev/null && {}",
            http_get(name, "hi-from-web")
        );
        let (ok, text) = exec(&env, &dir, "client", &script);
        assert!(
            ok && text.trim() == "hi-from-web",
            "client → {name}: {text}"
        );
    }
    // Reverse lookup of the web container's address gives its name.
    let (ok, ip) = exec(
        &env,
        &dir,
        "web",
        "ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1",
    );
    assert!(ok, "{ip}");
    let ip = ip.trim().to_owned();
    let (_, text) = exec(&env, &dir, "client", &format!("nslookup {ip}"));
    assert!(text.contains("nm-web-1"), "PTR of {ip}: {text}");
    // Another network sees neither the names nor the address. (Names are
    // given fully qualified to busybox nslookup, which with a search
    // domain tries only the expanded name.)
    let (ok, text) = exec(&env, &dir, "outsider", "nslookup web.");
    assert!(
        !ok && text.contains("NXDOMAIN"),
        "outsider resolved web: {text}"
    );
    let (ok, text) = exec(&env, &dir, "outsider", &http_get(&ip, "hi-from-web"));
    assert!(!ok, "outsider reached web at {ip}: {text}");
    // Outside names go to the host's resolver (a stub on 127.0.0.53).
    for svc in ["client", "outsider"] {
        let (ok, text) = exec(&env, &dir, svc, "nslookup outside.example");
        assert!(ok && text.contains("203.0.113.9"), "{svc}: {text}");
    }
    let (_, resolv) = exec(&env, &dir, "client", "cat /etc/resolv.conf");
    assert!(resolv.contains("search corp.example"), "{resolv}");

    // Scaling up: the DNS server picks the new replica up without a restart,
    // and the service name gives both (round robin).
    let pid = std::fs::read_to_string(env.root.path().join("run/dns.pid")).unwrap();
    let o = berth_with(&env, &dir, &vars, &["up", "-d", "--scale", "web=2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, text) = exec(&env, &dir, "client", "nslookup web.");
    let answers = text
        .lines()
        .filter(|l| l.starts_with("Address") && !l.contains(":53"))
        .count();
    assert!(ok && answers == 2, "two replicas: {text}");
    let (ok, text) = exec(
        &env,
        &dir,
        "client",
        &retry(&http_get("nm-web-2", "hi-from-web")),
    );
    assert!(ok && text.contains("hi-from-web"), "{text}");
    let pid_after = std::fs::read_to_string(env.root.path().join("run/dns.pid")).unwrap();
    let pid_of = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["pid"].clone();
    assert_eq!(pid_of(&pid), pid_of(&pid_after), "the same DNS server");

    env.ok(&dir, &["down", "-t", "1"]);
    assert_eq!(
        leftovers(&env, &before),
        Vec::<String>::new(),
        "down leaves the fake host as it was"
    );
    drop(upstream);
}

const DUAL: &str = r#"
services:
  a:
    image: busybox:latest
    command: ["sh", "-c", "echo v6-web > /tmp/index.html; httpd -f -p 80 -h /tmp"]
    init: true
    networks:
      dual:
        ipv6_address: fd31::10
  b:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    mac_address: 02:42:0a:e7:00:42
    extra_hosts: ["host.docker.internal:host-gateway", "static.example=192.0.2.77"]
    dns_search: [svc.example]
    dns_opt: ["ndots:2"]
    networks: [dual]
networks:
  dual:
    enable_ipv6: true
    driver_opts:
      com.docker.network.driver.mtu: "1420"
    ipam:
      config:
        - subnet: 10.231.0.0/24
          gateway: 10.231.0.254
          ip_range: 10.231.0.128/25
        - subnet: fd31::/64
"#;

#[test]
fn ipv6_networks_answer_aaaa_and_containers_get_what_the_file_says() {
    require_root!();
    let mut env = Env::with_network();
    let upstream = Upstream::start(
        &env,
        "outside.example",
        "203.0.113.9".parse().unwrap(),
        "search corp.example\n",
    );
    let before = env.snapshot();
    let dir = env.project("v6", DUAL);
    let vars = [("BERTH_HOST_RESOLV_CONF", upstream.conf.as_path())];
    let o = berth_with(&env, &dir, &vars, &["up", "-d"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // (busybox nslookup only tries the search domains with ndots:2, so the
    // name is given fully qualified; ping goes through the libc resolver.)
    let (ok, text) = exec(&env, &dir, "b", "nslookup a.");
    assert!(ok && text.contains("fd31::10"), "AAAA of a: {text}");
    let (ok, text) = exec(&env, &dir, "b", "ping -c1 -W2 a");
    assert!(ok && text.contains("fd31::10"), "ping a over IPv6: {text}");
    let (ok, text) = exec(&env, &dir, "b", &retry(&http_get("fd31::10", "v6-web")));
    assert!(ok && text.trim() == "v6-web", "{text}");
    // Addressing from the file: ip_range, gateway, MTU, MAC.
    let (_, addr) = exec(
        &env,
        &dir,
        "b",
        "ip -o addr show eth0; ip -o link show eth0; ip route",
    );
    assert!(
        addr.contains("inet 10.231.0.128/24") || addr.contains("inet 10.231.0.129/24"),
        "{addr}"
    );
    assert!(
        addr.contains("mtu 1420") && addr.contains("02:42:0a:e7:00:42"),
        "{addr}"
    );
    assert!(addr.contains("default via 10.231.0.254 dev eth0"), "{addr}");
    // Name files: extra_hosts with host-gateway, dns_search and dns_opt.
    let (_, hosts) = exec(&env, &dir, "b", "cat /etc/hosts /etc/resolv.conf");
    assert!(
        hosts.contains("10.231.0.254\thost.docker.internal"),
        "{hosts}"
    );
    assert!(hosts.contains("192.0.2.77\tstatic.example"), "{hosts}");
    assert!(hosts.contains("nameserver 10.231.0.254"), "{hosts}");
    assert!(
        hosts.contains("search svc.example") && hosts.contains("options ndots:2"),
        "{hosts}"
    );
    // `berth network inspect` shows both subnets and the containers.
    let inspect = env.ok(&dir, &["network", "inspect", "v6_dual"]);
    let j: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(j[0]["EnableIPv6"], true, "{inspect}");
    assert_eq!(j[0]["IPAM"]["Config"][1]["Subnet"], "fd31::/64");
    assert_eq!(
        j[0]["Containers"].as_object().unwrap().len(),
        2,
        "{inspect}"
    );
    let o = env.berth(&dir, &["network", "rm", "v6_dual"]);
    assert!(!o.status.success(), "a network in use is not removed");
    env.ok(&dir, &["down", "-t", "1"]);
    assert_eq!(leftovers(&env, &before), Vec::<String>::new());
    drop(upstream);
}

const MODES: &str = r#"
services:
  base:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
  side:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: "service:base"
    depends_on: [base]
  alone:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: none
  onhost:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    network_mode: host
"#;

#[test]
fn network_modes_and_network_commands() {
    require_root!();
    let mut env = Env::with_network();
    // A link only the fake host has, to recognise its namespace.
    let mark = env.sh("ip link add bthmark0 type veth peer name bthmark1");
    assert!(mark.status.success());
    let before = env.snapshot();
    let dir = env.project("md", MODES);
    env.ok(&dir, &["up", "-d"]);
    let links = |svc: &str| exec(&env, &dir, svc, "ip -o link show; ip -o -4 addr show").1;
    let base = links("base");
    assert!(base.contains("eth0") && base.contains(" lo"), "{base}");
    assert_eq!(links("side"), base, "service:base shares base's namespace");
    let alone = links("alone");
    assert!(alone.contains(" lo") && !alone.contains("eth0"), "{alone}");
    assert!(alone.contains("127.0.0.1"), "loopback is up: {alone}");
    let onhost = links("onhost");
    assert!(onhost.contains("bthmark0"), "network_mode host: {onhost}");
    // `berth network` sees the project's network.
    let ls = env.ok(&dir, &["network", "ls"]);
    assert!(ls.contains("md_default") && ls.contains("bridge"), "{ls}");
    env.ok(&dir, &["down", "-t", "1"]);
    assert!(!env.ok(&dir, &["network", "ls"]).contains("md_default"));
    // An external network must exist; once made by hand it is used, and
    // `down` leaves it.
    let ext = "services:\n  a:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\nnetworks:\n  default:\n    name: shared1\n    external: true\n";
    let dir_ext = env.project("ex", ext);
    let o = env.berth(&dir_ext, &["up", "-d"]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && msg.contains("shared1") && msg.contains("external"),
        "{msg}"
    );
    env.ok(&dir_ext, &["network", "create", "shared1"]);
    env.ok(&dir_ext, &["up", "-d"]);
    let (_, routes) = exec(&env, &dir_ext, "a", "ip route");
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&dir_ext, &["network", "inspect", "shared1"])).unwrap();
    let subnet = inspect[0]["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        routes.contains(&subnet),
        "a is on shared1 ({subnet}): {routes}"
    );
    env.ok(&dir_ext, &["down", "-t", "1"]);
    assert!(
        env.ok(&dir_ext, &["network", "ls"]).contains("shared1"),
        "down keeps external networks"
    );
    env.ok(&dir_ext, &["network", "rm", "shared1"]);
    // Networks made by hand: create, rm, prune.
    env.ok(
        &dir,
        &["network", "create", "--subnet", "10.232.0.0/24", "hand1"],
    );
    let e = env.berth(
        &dir,
        &["network", "create", "--subnet", "10.232.0.0/25", "hand2"],
    );
    let msg = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && msg.contains("10.232.0.0/24 of network hand1"),
        "{msg}"
    );
    env.ok(&dir, &["network", "create", "--internal", "hand3"]);
    env.ok(&dir, &["network", "rm", "hand1"]);
    let pruned = env.ok(&dir, &["network", "prune", "-f"]);
    assert!(pruned.contains("hand3"), "{pruned}");
    assert_eq!(env.ok(&dir, &["network", "ls", "-q"]).trim(), "");
    assert_eq!(leftovers(&env, &before), Vec::<String>::new());
    env.sh("ip link del bthmark0");
}

#[test]
fn names_keep_resolving_after_the_berth_command_is_killed() {
    require_root!();
    let mut env = Env::with_network();
    let two = "services:\n  a:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n  b:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n";
    let dir = env.project("ck", two);
    // `up` in the foreground, killed without a chance to clean up.
    let mut up = env
        .command(&dir, &["up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.ok(&dir, &["ps", "-q"]).lines().count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "up did not start both"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    let (ok, text) = exec(
        &env,
        &dir,
        "b",
        &retry("ping -c1 -W2 a >/dev/null && nslookup ck-a-1."),
    );
    assert!(ok && text.contains("Name:"), "names after the kill: {text}");
    env.ok(&dir, &["down", "-t", "1"]);
}
