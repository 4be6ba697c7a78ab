//! Published ports, inside a namespace that plays the host (with Docker's
//! `FORWARD` policy DROP), with a second namespace playing a machine on the
//! host's LAN.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

use berth_net::attach::attach;
use berth_net::firewall::Family;
use berth_net::network::{NetworkSpec, Networks};
use berth_net::ports::{self, Nat, PortRequest};
use berth_store::Root;
use berth_testkit::netns::{FakeHost, NetnsProcess};
use berth_testkit::require_root;
use common::{Responder, eventually, in_ns_of, sh, tcp_read, udp_ask};

const HOST_IP: &str = "198.51.100.7";
const LAN_PEER: &str = "198.51.100.8";

fn port(host: Option<(u16, u16)>, host_ip: Option<&str>, proto: &str) -> PortRequest {
    PortRequest {
        host_ip: host_ip.map(Into::into),
        host_ports: host,
        container_port: 80,
        protocol: proto.into(),
    }
}

fn one(p: u16) -> Option<(u16, u16)> {
    Some((p, p))
}

/// A machine on the LAN of the fake host: a namespace linked to it by a
/// veth pair, 198.51.100.8 facing the host's 198.51.100.7.
fn lan_peer() -> NetnsProcess {
    let peer = NetnsProcess::spawn();
    sh(&format!(
        "ip link add bthlan0 type veth peer name lan0 netns /proc/{}/ns/net && \
         echo 0 > /proc/sys/net/ipv6/conf/bthlan0/accept_dad && \
         ip addr add {HOST_IP}/24 dev bthlan0 && ip link set bthlan0 up",
        peer.pid()
    ));
    let o = peer.sh(&format!(
        "ip addr add {LAN_PEER}/24 dev lan0 && ip link set lan0 up"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The kernel gives bthlan0 its IPv6 link-local address a moment after the
    // carrier comes up (linkwatch runs asynchronously): wait for it, or the
    // "before" snapshot misses it and teardown looks like it added it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("ip")
            .args([
                "-6", "-o", "addr", "show", "dev", "bthlan0", "scope", "link",
            ])
            .output()
            .unwrap();
        if !out.stdout.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bthlan0 got no link-local address"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    peer
}

/// Makes the LAN peer send packets for 127.0.0.1 to the host, as an
/// attacker on the LAN can (moby#45610).
fn route_loopback_to_host(peer: &NetnsProcess) {
    let o = peer.sh(&format!(
        "ip route del local 127.0.0.0/8 dev lo table local; \
         ip route del local 127.0.0.1 dev lo table local; \
         echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && \
         echo 1 > /proc/sys/net/ipv4/conf/lan0/route_localnet && \
         ip route add 127.0.0.1/32 via {HOST_IP} dev lan0"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn published_ports_reach_the_container_from_where_they_should_only() {
    require_root!();
    ports_reach(Nat::Auto);
}

/// The same with iptables DNAT rules, berth's way where nf_tables is not
/// available.
#[test]
fn published_ports_through_iptables_rules_behave_the_same() {
    require_root!();
    ports_reach(Nat::Iptables);
}

fn ports_reach(nat: Nat) {
    let host = FakeHost::new();
    host.run(|| {
        // Docker's FORWARD policy must not get in the way.
        sh("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
        let peer = lan_peer();
        let before = common::net_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let nets = Networks::new(&root);
        let spec = |name: &str| NetworkSpec {
            name: name.into(),
            ..Default::default()
        };
        let front = nets.ensure(&spec("p_front")).unwrap();
        let other = nets.ensure(&spec("p_other")).unwrap();
        let (web, client, stranger) = (
            NetnsProcess::spawn(),
            NetnsProcess::spawn(),
            NetnsProcess::spawn(),
        );
        let ids = ["a1aaaaaaaaaaaa", "a2aaaaaaaaaaaa", "a3aaaaaaaaaaaa"];
        let web_ip = nets.allocate("p_front", ids[0], None).unwrap();
        let client_ip = nets.allocate("p_front", ids[1], None).unwrap();
        let stranger_ip = nets.allocate("p_other", ids[2], None).unwrap();
        for (c, n, id, ip) in [
            (&web, &front, ids[0], web_ip),
            (&client, &front, ids[1], client_ip),
            (&stranger, &other, ids[2], stranger_ip),
        ] {
            attach(c.pid(), &[Networks::attachment(n, id, 0, ip, true, None)]).unwrap();
        }
        let server = Responder::start(web.pid(), "0.0.0.0:80", "pong");
        let published = ports::publish_using(
            &root,
            ids[0],
            "web",
            web_ip,
            None,
            &[
                port(one(18080), None, "tcp"),
                port(one(18080), None, "udp"),
                port(None, None, "tcp"),
                port(one(18081), Some("127.0.0.1"), "tcp"),
                port(Some((18090, 18099)), None, "udp"),
                port(one(18084), Some("127.0.0.1"), "udp"),
            ],
            nat,
        )
        .unwrap();
        let hp: Vec<(String, u16, &str)> = published
            .iter()
            .map(|p| (p.host_ip.clone(), p.host_port, p.protocol.as_str()))
            .collect();
        let ephemeral = published[2].host_port;
        assert!(
            ephemeral != 0 && ephemeral != 18080 && ephemeral != 18081,
            "{hp:?}"
        );
        assert_eq!(
            ports::published(&root, ids[0]).unwrap(),
            published,
            "recorded for port/ps"
        );
        assert_eq!(
            published[4].host_port, 18090,
            "first free port of the range"
        );
        assert_eq!(published[3].host_ip, "127.0.0.1");
        assert_eq!(published[0].host_ip, "0.0.0.0");
        let want = if nat == Nat::Auto { "nft" } else { "" };
        assert!(published.iter().all(|p| p.via == want), "{published:?}");
        let tables = berth_net::firewall::nft::tables(Family::V4).unwrap();
        assert_eq!(
            tables.contains(&"berth".to_string()),
            nat == Nat::Auto,
            "{tables:?}"
        );
        let dnat = String::from_utf8_lossy(
            &std::process::Command::new("iptables-save")
                .args(["-t", "nat"])
                .output()
                .unwrap()
                .stdout,
        )
        .matches("-j DNAT")
        .count();
        assert_eq!(
            dnat > 0,
            nat == Nat::Iptables,
            "iptables DNAT rules: {dnat}"
        );

        let tcp = |addr: String| eventually(|| tcp_read(&addr));
        let udp = |addr: String| eventually(|| udp_ask(&addr, b"ping"));
        let pong = Some("pong".to_string());
        // From the host, on loopback and on its own address, TCP and UDP.
        for ip in ["127.0.0.1", HOST_IP] {
            assert_eq!(tcp(format!("{ip}:18080")), pong, "tcp {ip}");
            assert_eq!(udp(format!("{ip}:18080")), pong, "udp {ip}");
            assert_eq!(tcp(format!("{ip}:{ephemeral}")), pong, "ephemeral {ip}");
            assert_eq!(udp(format!("{ip}:18090")), pong, "range {ip}");
        }
        assert_eq!(
            tcp("127.0.0.1:18081".into()),
            pong,
            "published on 127.0.0.1"
        );
        assert_eq!(
            tcp_read(&format!("{HOST_IP}:18081")),
            None,
            "a port published on 127.0.0.1 is not on the host's other addresses"
        );
        // From containers through the host address: the same network
        // (hairpin, including the container itself), and another network.
        for (who, c) in [
            ("client", &client),
            ("itself", &web),
            ("other network", &stranger),
        ] {
            let got = in_ns_of(c.pid(), || tcp(format!("{HOST_IP}:18080")));
            assert_eq!(got, pong, "tcp from {who}");
            let got = in_ns_of(c.pid(), || udp(format!("{HOST_IP}:18080")));
            assert_eq!(got, pong, "udp from {who}");
        }
        // Isolation still holds for everything that is not a published port.
        let direct = in_ns_of(stranger.pid(), || tcp_read(&format!("{web_ip}:80")));
        assert_eq!(direct, None, "other network reaches the container directly");
        // From the LAN: the published port, never the loopback-only one.
        let from_lan = |addr: String| in_ns_of(peer.pid(), || tcp_read(&addr));
        assert_eq!(
            in_ns_of(peer.pid(), || tcp(format!("{HOST_IP}:18080"))),
            pong,
            "LAN peer reaches a port published on all addresses"
        );
        assert_eq!(from_lan(format!("{HOST_IP}:18081")), None);
        // moby#45610: a LAN peer sends packets for 127.0.0.1 to the host.
        // The peer's own stack drops the replies (their source is
        // 127.0.0.1), so what is checked is whether its datagrams reach the
        // container at all.
        route_loopback_to_host(&peer);
        let spoof = || {
            let before = server.datagrams.load(Ordering::SeqCst);
            in_ns_of(peer.pid(), || {
                let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
                for _ in 0..3 {
                    s.send_to(b"spoofed", "127.0.0.1:18084").unwrap();
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            server.datagrams.load(Ordering::SeqCst) - before
        };
        assert_eq!(
            spoof(),
            0,
            "a LAN peer reached a port published on 127.0.0.1"
        );
        // The test can see the flaw: without berth's raw rule the spoofed
        // packets get through.
        let raw = "BERTH-PREROUTING -d 127.0.0.0/8 ! -i lo -m addrtype ! --src-type LOCAL \
                   -m comment --comment berth:base -j DROP";
        sh(&format!("iptables -t raw -D {raw}"));
        let leaked = spoof();
        sh(&format!("iptables -t raw -A {raw}"));
        assert!(leaked > 0, "control: without the rule the port leaks");
        assert_eq!(spoof(), 0);

        // Conflicts: a port the host uses, and one another container has.
        let busy = std::net::TcpListener::bind("0.0.0.0:18082").unwrap();
        let base = port(one(18082), None, "tcp");
        let e = ports::publish(
            &root,
            "bbbbbbbbbb",
            "api",
            Ipv4Addr::new(10, 0, 0, 9),
            &[base],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("0.0.0.0:18082") && e.contains("api") && e.contains("already allocated"),
            "{e}"
        );
        let e = ports::publish(
            &root,
            "bbbbbbbbbb",
            "api",
            Ipv4Addr::new(10, 0, 0, 9),
            &[port(one(18083), None, "tcp"), port(one(18080), None, "udp")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("18080") && e.contains("service api"), "{e}");
        assert!(
            ports::published(&root, "bbbbbbbbbb").unwrap().is_empty(),
            "nothing half-created"
        );
        assert_eq!(
            tcp_read("127.0.0.1:18083"),
            None,
            "no rule for the first port"
        );
        drop(busy);

        // The same container published again (its stop never ran): only
        // the new ports answer.
        let again = ports::publish_using(
            &root,
            ids[0],
            "web",
            web_ip,
            None,
            &[port(one(18088), None, "tcp")],
            nat,
        )
        .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(tcp("127.0.0.1:18088".into()), pong);
        assert_eq!(
            tcp_read("127.0.0.1:18080"),
            None,
            "the earlier ports are gone"
        );

        // Teardown removes exactly what was added.
        ports::unpublish(&root, ids[0]).unwrap();
        assert_eq!(tcp_read("127.0.0.1:18088"), None);
        assert_eq!(tcp_read("127.0.0.1:18080"), None);
        drop(server);
        drop((web, client, stranger));
        for (net, id) in [
            ("p_front", ids[0]),
            ("p_front", ids[1]),
            ("p_other", ids[2]),
        ] {
            nets.release(net, id).unwrap();
        }
        nets.remove("p_front").unwrap();
        nets.remove("p_other").unwrap();
        assert_eq!(
            common::net_diff(&before, &common::net_snapshot()),
            Vec::<String>::new()
        );
        drop(peer);
    });
}
