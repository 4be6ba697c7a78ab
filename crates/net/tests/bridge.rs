//! Networks for real, inside a network namespace that plays the host.

use std::net::Ipv4Addr;

mod common;

use berth_net::attach::attach;
use berth_net::ipam::PoolRequest;
use berth_net::network::{NetworkSpec, Networks};
use berth_store::Root;
use berth_testkit::netns::{FakeHost, NetnsProcess};
use berth_testkit::require_root;

fn spec(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn containers_on_one_network_talk_and_teardown_leaves_nothing() {
    require_root!();
    let host = FakeHost::new();
    host.run(|| {
        // Docker's FORWARD policy must not get in the way.
        assert!(
            std::process::Command::new("iptables")
                .args(["-P", "FORWARD", "DROP"])
                .status()
                .unwrap()
                .success()
        );
        let before = common::net_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let nets = Networks::new(&root);
        let a = nets.ensure(&spec("t_a")).unwrap();
        let b = nets.ensure(&spec("t_b")).unwrap();
        assert_ne!(a.subnet, b.subnet);
        assert_eq!(
            nets.ensure(&spec("t_a")).unwrap().id,
            a.id,
            "ensure is idempotent"
        );
        let c1 = NetnsProcess::spawn();
        let c2 = NetnsProcess::spawn();
        let c3 = NetnsProcess::spawn();
        let ids = ["1111111111aaaa", "2222222222bbbb", "3333333333cccc"];
        let ip1 = nets.allocate("t_a", ids[0], None).unwrap();
        let ip2 = nets
            .allocate(
                "t_a",
                ids[1],
                Some(Ipv4Addr::from(u32::from(a.gateway) + 10)),
            )
            .unwrap();
        let ip3 = nets.allocate("t_b", ids[2], None).unwrap();
        assert_eq!(
            nets.allocate("t_a", ids[0], None).unwrap(),
            ip1,
            "same container, same lease"
        );
        assert!(
            nets.allocate("t_a", "other", Some(ip2)).is_err(),
            "no address handed out twice"
        );
        attach(
            c1.pid(),
            &[Networks::attachment(&a, ids[0], 0, ip1, true, None)],
        )
        .unwrap();
        attach(
            c2.pid(),
            &[Networks::attachment(&a, ids[1], 0, ip2, true, None)],
        )
        .unwrap();
        attach(
            c3.pid(),
            &[Networks::attachment(&b, ids[2], 0, ip3, true, None)],
        )
        .unwrap();
        let ping = |c: &NetnsProcess, ip: Ipv4Addr| {
            c.sh(&format!("busybox ping -c1 -W2 {ip}")).status.success()
        };
        assert!(ping(&c1, ip2), "same network reachable");
        assert!(ping(&c2, ip1));
        assert!(!ping(&c1, ip3), "other network isolated");
        assert!(ping(&c1, a.gateway), "gateway reachable");
        // TCP and UDP across the bridge.
        let server = common::Responder::start(c2.pid(), "0.0.0.0:7777", "hello");
        let to = format!("{ip2}:7777");
        assert_eq!(
            common::in_ns_of(c1.pid(), || common::tcp_read(&to)).as_deref(),
            Some("hello")
        );
        assert_eq!(
            common::in_ns_of(c1.pid(), || common::udp_ask(&to, b"hi")).as_deref(),
            Some("hello")
        );
        drop(server);
        // Teardown.
        drop((c1, c2, c3));
        for (net, id) in [("t_a", ids[0]), ("t_a", ids[1]), ("t_b", ids[2])] {
            nets.release(net, id).unwrap();
        }
        nets.remove("t_a").unwrap();
        nets.remove("t_b").unwrap();
        let after = common::net_snapshot();
        assert_eq!(common::net_diff(&before, &after), Vec::<String>::new());
    });
}

#[test]
fn a_taken_subnet_is_named() {
    require_root!();
    let host = FakeHost::new();
    host.run(|| {
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        let pool = |s: &str| vec![PoolRequest { subnet: Some(s.into()), ..Default::default() }];
        let s = NetworkSpec { pools: pool("10.123.0.0/16"), ..spec("t_one") };
        nets.ensure(&s).unwrap();
        let e = nets.ensure(&NetworkSpec { pools: pool("10.123.4.0/24"), ..spec("t_two") }).unwrap_err().to_string();
        assert!(e.contains("Pool overlaps with other one on this address space: 10.123.4.0/24 overlaps 10.123.0.0/16 of network t_one"), "{e}");
        nets.remove("t_one").unwrap();
    });
}

#[test]
fn ensure_completes_a_network_whose_creation_was_cut_short() {
    require_root!();
    let host = FakeHost::new();
    host.run(|| {
        let before = common::net_snapshot();
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        let n = nets.ensure(&spec("t_half")).unwrap();
        let full = common::net_snapshot();
        // What a killed berth (or a firewall reload) can leave: the bridge
        // without its address, and berth's rules gone.
        common::sh(&format!("ip addr flush dev {}", n.bridge));
        common::sh(&format!(
            "iptables -t nat -D BERTH-POSTROUTING -s {} ! -o {} -m comment --comment berth:net:t_half -j MASQUERADE",
            n.subnet, n.bridge
        ));
        assert_ne!(common::net_diff(&full, &common::net_snapshot()), Vec::<String>::new());
        assert_eq!(nets.ensure(&spec("t_half")).unwrap(), n, "the same network");
        assert_eq!(
            common::net_diff(&full, &common::net_snapshot()),
            Vec::<String>::new(),
            "completed"
        );
        // And without the bridge at all (a reboot): the same bridge again
        // (under a new interface index), addresses, routes and rules.
        common::sh(&format!("ip link del {}", n.bridge));
        nets.ensure(&spec("t_half")).unwrap();
        let again = common::net_snapshot();
        assert_eq!(again.addrs, full.addrs);
        assert_eq!(again.routes, full.routes);
        assert_eq!(again.iptables, full.iptables);
        assert!(again.links.iter().any(|l| l.contains(&n.bridge)));
        nets.remove("t_half").unwrap();
        assert_eq!(common::net_diff(&before, &common::net_snapshot()), Vec::<String>::new());
    });
}
