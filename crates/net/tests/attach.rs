//! What a container gets when attached: interfaces with the network's MTU
//! and its own MAC, IPv4 and IPv6 addresses, the default route via the
//! right gateway (none through an internal network), outbound NAT in both
//! families, and published ports over IPv6 — inside a namespace that plays
//! the host, beside Docker's FORWARD policy DROP.

mod common;

use berth_net::attach::attach;
use berth_net::ipam::PoolRequest;
use berth_net::network::{MTU_OPTION, NetworkSpec, Networks};
use berth_net::ports::{self, PortRequest};
use berth_store::Root;
use berth_testkit::netns::{FakeHost, NetnsProcess};
use berth_testkit::require_root;
use common::{Responder, eventually, in_ns_of, sh, tcp_read};

fn json(c: &NetnsProcess, cmd: &str) -> serde_json::Value {
    let o = c.sh(cmd);
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The LAN of the fake host: 198.51.100.7 and fd98::7 on the host,
/// 198.51.100.8 and fd98::8 on a peer namespace.
fn lan_peer() -> NetnsProcess {
    let peer = NetnsProcess::spawn();
    sh(&format!(
        "ip link add bthlan0 type veth peer name lan0 netns /proc/{}/ns/net && \
         echo 0 > /proc/sys/net/ipv6/conf/bthlan0/accept_dad && \
         ip addr add 198.51.100.7/24 dev bthlan0 && ip addr add fd98::7/64 dev bthlan0 nodad && \
         ip link set bthlan0 up",
        peer.pid()
    ));
    let o = peer.sh(
        "ip addr add 198.51.100.8/24 dev lan0 && ip addr add fd98::8/64 dev lan0 nodad && \
         ip link set lan0 up",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    peer
}

#[test]
fn containers_get_mtu_mac_routes_both_families_and_nat() {
    require_root!();
    let host = FakeHost::new();
    host.run(|| {
        sh("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
        let peer = lan_peer();
        let before = common::net_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let nets = Networks::new(&root);
        let pool = |s: &str| PoolRequest {
            subnet: Some(s.into()),
            ..Default::default()
        };
        let dual = nets
            .ensure(&NetworkSpec {
                name: "a_dual".into(),
                pools: vec![pool("10.77.0.0/24"), pool("fd77::/64")],
                enable_ipv6: true,
                driver_opts: [(MTU_OPTION.to_string(), "1400".to_string())].into(),
                ..Default::default()
            })
            .unwrap();
        let internal = nets
            .ensure(&NetworkSpec {
                name: "a_int".into(),
                internal: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(dual.mtu, Some(1400));
        let v6 = dual.ipv6.clone().expect("an IPv6 subnet");
        assert_eq!(v6.subnet.to_string(), "fd77::/64");

        let (c1, c2, lonely) = (
            NetnsProcess::spawn(),
            NetnsProcess::spawn(),
            NetnsProcess::spawn(),
        );
        let ids = ["b1bbbbbbbbbbbb", "b2bbbbbbbbbbbb", "b3bbbbbbbbbbbb"];
        let l1 = nets.lease("a_dual", ids[0], None, None).unwrap();
        let l1i = nets.lease("a_int", ids[0], None, None).unwrap();
        let l2 = nets
            .lease("a_dual", ids[1], None, Some("fd77::42".parse().unwrap()))
            .unwrap();
        let l3 = nets.lease("a_int", ids[2], None, None).unwrap();
        assert_eq!(l2.ipv6, Some("fd77::42".parse().unwrap()));
        assert_eq!(l1i.ipv6, None);
        let mac = "02:42:0a:4d:00:99";
        attach(
            c1.pid(),
            &[
                Networks::attachment_for(&dual, ids[0], 0, &l1, true, Some(mac.into())),
                Networks::attachment_for(&internal, ids[0], 1, &l1i, false, None),
            ],
        )
        .unwrap();
        attach(
            c2.pid(),
            &[Networks::attachment_for(&dual, ids[1], 0, &l2, true, None)],
        )
        .unwrap();
        attach(
            lonely.pid(),
            &[Networks::attachment_for(
                &internal, ids[2], 0, &l3, true, None,
            )],
        )
        .unwrap();

        // Interfaces: eth0 with the MTU and MAC asked for, eth1 on the
        // internal network, both born in the container under their names.
        let links = json(&c1, "ip -j link show");
        let eth0 = links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == "eth0")
            .unwrap_or_else(|| panic!("no eth0 in {links}"));
        assert_eq!(eth0["mtu"], 1400);
        assert_eq!(eth0["address"], mac);
        assert!(
            links
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["ifname"] == "eth1")
        );
        let addrs = json(&c1, "ip -j addr show eth0").to_string();
        assert!(
            addrs.contains(&l1.ipv4.to_string()) && addrs.contains(&l1.ipv6.unwrap().to_string()),
            "{addrs}"
        );
        // One default route per family, via the dual network's gateways.
        let r4 = json(&c1, "ip -j route show default");
        assert_eq!(r4.as_array().unwrap().len(), 1, "{r4}");
        assert_eq!(r4[0]["gateway"], dual.gateway.to_string());
        assert_eq!(r4[0]["dev"], "eth0");
        let r6 = json(&c1, "ip -j -6 route show default");
        assert_eq!(r6[0]["gateway"], v6.gateway.to_string(), "{r6}");
        assert!(
            json(&lonely, "ip -j route show default")
                .as_array()
                .unwrap()
                .is_empty(),
            "no default route through an internal network"
        );

        // Between the two containers over IPv6.
        let server = Responder::start(c2.pid(), "[::]:7777", "v6-hello");
        let to = format!("[{}]:7777", l2.ipv6.unwrap());
        assert_eq!(
            in_ns_of(c1.pid(), || eventually(|| tcp_read(&to))).as_deref(),
            Some("v6-hello")
        );
        // Out to the LAN, masqueraded to the host's address in both families;
        // never from an internal network.
        let outside = Responder::start(peer.pid(), "[::]:9999", "$SOURCE");
        let seen4 = in_ns_of(c1.pid(), || eventually(|| tcp_read("198.51.100.8:9999")));
        assert_eq!(seen4.as_deref(), Some("::ffff:198.51.100.7"));
        let seen6 = in_ns_of(c1.pid(), || eventually(|| tcp_read("[fd98::8]:9999")));
        assert_eq!(seen6.as_deref(), Some("fd98::7"));
        assert_eq!(
            in_ns_of(lonely.pid(), || tcp_read("198.51.100.8:9999")),
            None
        );
        assert_eq!(
            in_ns_of(lonely.pid(), || tcp_read(&format!("{}:7777", l2.ipv4))),
            None,
            "internal network isolated from the others"
        );

        // A port published without a host IP answers on IPv4 and IPv6.
        let req = PortRequest {
            host_ip: None,
            host_ports: Some((18080, 18080)),
            container_port: 7777,
            protocol: "tcp".into(),
        };
        let p = ports::publish_for(&root, ids[1], "web", l2.ipv4, l2.ipv6, &[req]).unwrap();
        let hosts: Vec<&str> = p.iter().map(|p| p.host_ip.as_str()).collect();
        assert_eq!(hosts, ["0.0.0.0", "::"]);
        assert_eq!(
            eventually(|| tcp_read("[fd98::7]:18080")).as_deref(),
            Some("v6-hello")
        );
        assert_eq!(
            eventually(|| tcp_read("127.0.0.1:18080")).as_deref(),
            Some("v6-hello")
        );
        let from_lan = in_ns_of(peer.pid(), || eventually(|| tcp_read("[fd98::7]:18080")));
        assert_eq!(from_lan.as_deref(), Some("v6-hello"));

        // Teardown leaves the fake host as it was, ip6tables included.
        ports::unpublish(&root, ids[1]).unwrap();
        drop((server, outside));
        drop((c1, c2, lonely));
        for (n, id) in [
            ("a_dual", ids[0]),
            ("a_int", ids[0]),
            ("a_dual", ids[1]),
            ("a_int", ids[2]),
        ] {
            nets.release(n, id).unwrap();
        }
        nets.remove("a_dual").unwrap();
        nets.remove("a_int").unwrap();
        assert_eq!(
            common::net_diff(&before, &common::net_snapshot()),
            Vec::<String>::new()
        );
        drop(peer);
    });
}
