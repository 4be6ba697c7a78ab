//! The DNS daemon for real (root): each test builds a throwaway network
//! namespace that plays the host, with bridges carrying the gateway
//! addresses, "containers" as further namespaces linked by veth pairs, and a
//! fake upstream DNS server on the fake host's loopback. Queries come from
//! busybox `nslookup` inside the containers, and from a raw client written
//! here (independent of the crate's own wire code) where exact order or TCP
//! matters.
//!
//! The daemon is this test binary re-executed (`daemon_entry`, ignored in
//! normal runs) inside the fake host, started through
//! `dns::daemon::ensure_running` as the runtime starts it.

mod dns_fixture;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use berth_net::dns::{daemon, server};
use berth_net::dnsdb;
use berth_store::Root;
use berth_testkit::require_root;
use dns_fixture::*;

/// The daemon process of the other tests (see the module comment).
#[test]
#[ignore = "entry point of the DNS daemon, re-executed by the other tests in their fake host"]
fn daemon_entry() {
    let Some(root) = std::env::var_os(ENV_ROOT) else {
        return;
    };
    let opts = server::Options {
        resolv_conf: std::env::var_os(ENV_RESOLV).expect(ENV_RESOLV).into(),
        forward_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    server::run(&Root::new(root), &opts).expect("dns daemon");
}

// --- tests ----------------------------------------------------------------------

/// Service names, container names, aliases, PTR and IPv6 from inside
/// containers; names of a network the asker is not on go upstream; internal
/// networks never go upstream; outside names come from the host's resolver.
#[test]
fn containers_resolve_names_of_their_networks_only() {
    require_root!();
    let mut h = Host::new();
    let upstream = Upstream::start(
        &h.ns,
        "127.0.0.53:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 80))],
    );
    let front = h.bridge(&["10.201.1.1/24", "fd00:201:1::1/64"]);
    let back = h.bridge(&["10.201.2.1/24"]);
    let client = h.container(&front, &["10.201.1.10/24", "fd00:201:1::10/64"]);
    let worker = h.container(&back, &["10.201.2.10/24"]);
    h.network("app_front", &["10.201.1.1", "fd00:201:1::1"], false);
    h.network("app_back", &["10.201.2.1"], true);
    let eps = [
        endpoint(
            "w1",
            "app-web-1",
            &[(
                "app_front",
                &["10.201.1.2", "fd00:201:1::2"],
                &["web", "www"],
            )],
        ),
        endpoint(
            "w2",
            "app-web-2",
            &[("app_front", &["10.201.1.3"], &["web"])],
        ),
        endpoint("d1", "app-db-1", &[("app_back", &["10.201.2.5"], &["db"])]),
        endpoint(
            "c1",
            "app-client-1",
            &[("app_front", &["10.201.1.10", "fd00:201:1::10"], &["client"])],
        ),
        endpoint(
            "k1",
            "app-worker-1",
            &[("app_back", &["10.201.2.10"], &["worker"])],
        ),
    ];
    for e in &eps {
        dnsdb::put_endpoint(&h.root, e).unwrap();
    }
    h.ensure_daemon();
    let gw = "10.201.1.1";

    let (st, mut web) = h.nslookup(client, "web", gw);
    web.sort();
    assert_eq!(
        (st.as_str(), web),
        (
            "ok",
            vec![
                "10.201.1.2".into(),
                "10.201.1.3".into(),
                "fd00:201:1::2".into()
            ]
        )
    );
    assert_eq!(
        h.nslookup(client, "APP-web-2", gw),
        ("ok".into(), vec!["10.201.1.3".into()])
    );
    assert_eq!(
        h.nslookup(client, "www.", gw).1,
        vec!["10.201.1.2", "fd00:201:1::2"]
    );
    // Over IPv6 to the v6 gateway.
    assert_eq!(
        h.nslookup(client, "www", "fd00:201:1::1").1,
        vec!["10.201.1.2", "fd00:201:1::2"]
    );
    assert_eq!(
        h.nslookup(client, "10.201.1.3", gw),
        ("ok".into(), vec!["app-web-2".into()])
    );

    // db lives on app_back only: not answered to the client, asked upstream
    // (which does not know it either).
    assert_eq!(h.nslookup(client, "db", gw).0, "NXDOMAIN");
    assert!(upstream.asked("db") >= 1);
    assert_eq!(h.nslookup(client, "10.201.2.5", gw).1, Vec::<String>::new());
    assert_eq!(
        h.nslookup(client, "outside.example", gw),
        ("ok".into(), vec!["192.0.2.80".into()])
    );

    // The worker (internal network only) sees db but never the outside.
    let back_gw = "10.201.2.1";
    assert_eq!(
        h.nslookup(worker, "db", back_gw),
        ("ok".into(), vec!["10.201.2.5".into()])
    );
    assert_eq!(h.nslookup(worker, "app-web-1", back_gw).0, "NXDOMAIN");
    let before = upstream.asked("outside.example");
    assert_eq!(h.nslookup(worker, "outside.example", back_gw).0, "NXDOMAIN");
    assert_eq!(upstream.asked("outside.example"), before);

    // TCP from the host itself (not a container): the network it asked.
    let (rcode, mut v) = tcp_ask(&h.ns, sa("10.201.1.1:53"), 7, "web");
    v.sort();
    assert_eq!((rcode, v), (0, vec![ip("10.201.1.2"), ip("10.201.1.3")]));
    assert_eq!(
        tcp_ask(&h.ns, sa("10.201.1.1:53"), 8, "outside.example"),
        (0, vec![ip("192.0.2.80")])
    );

    // The host's resolv.conf changes: the new upstream is used at once.
    let second = Upstream::start(
        &h.ns,
        "127.0.0.54:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 81))],
    );
    std::fs::write(&h.resolv_conf, "nameserver 127.0.0.54\n").unwrap();
    assert_eq!(
        h.nslookup(client, "outside.example", gw).1,
        vec!["192.0.2.81"]
    );
    assert!(second.asked("outside.example") >= 1);

    // The client's own `dns:` servers come before the host's.
    let own = Upstream::start(
        &h.ns,
        "127.0.0.55:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 82))],
    );
    let mut c1 = eps[3].clone();
    c1.dns_servers = vec![ip("127.0.0.55")];
    dnsdb::put_endpoint(&h.root, &c1).unwrap();
    eventually("the container's dns servers", || {
        h.nslookup(client, "outside.example", gw).1 == vec!["192.0.2.82"]
    });
    assert!(own.asked("outside.example") >= 1);
}

/// Replicas in rotating order, reloads without restart, listeners following
/// networks, and the daemon leaving with the last network.
#[test]
fn records_reload_and_daemon_follows_networks() {
    require_root!();
    let mut h = Host::new();
    h.bridge(&["10.202.1.1/24"]);
    h.network("app_default", &["10.202.1.1"], false);
    for (id, name, addr) in [
        ("a", "app-web-1", "10.202.1.2"),
        ("b", "app-web-2", "10.202.1.3"),
        ("c", "app-web-3", "10.202.1.4"),
    ] {
        dnsdb::put_endpoint(
            &h.root,
            &endpoint(id, name, &[("app_default", &[addr], &["web"])]),
        )
        .unwrap();
    }
    h.ensure_daemon();
    let pid = h.daemon_pid();
    let server = sa("10.202.1.1:53");
    let sock = h.ns.enter(|| UdpSocket::bind("10.202.1.1:0").unwrap());
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();

    // Round robin: each address comes first in turn; all are always there.
    let mut firsts = Vec::new();
    for id in 0..6 {
        let (rcode, v) = udp_ask(&sock, server, id, "web", 1);
        assert_eq!((rcode, v.len()), (0, 3));
        firsts.push(v[0]);
    }
    let mut distinct = firsts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "rotation over every replica: {firsts:?}");
    assert_ne!(firsts[0], firsts[1]);

    // A replica goes away and another container gets an alias: picked up
    // without a restart.
    dnsdb::remove_endpoint(&h.root, "c").unwrap();
    dnsdb::put_endpoint(
        &h.root,
        &endpoint(
            "d",
            "app-api-1",
            &[("app_default", &["10.202.1.9"], &["api"])],
        ),
    )
    .unwrap();
    eventually("the new alias", || {
        udp_ask(&sock, server, 20, "api", 1) == (0, vec![ip("10.202.1.9")])
    });
    let (_, mut v) = udp_ask(&sock, server, 21, "web", 1);
    v.sort();
    assert_eq!(v, vec![ip("10.202.1.2"), ip("10.202.1.3")]);
    assert_eq!(h.daemon_pid(), pid, "no restart");

    // A broken record costs only its own names.
    let bad = dnsdb::watch_dir(&h.root).join("endpoints/broken.json");
    std::fs::write(&bad, "{\"container_id\":").unwrap();
    dnsdb::put_endpoint(
        &h.root,
        &endpoint("e", "app-new-1", &[("app_default", &["10.202.1.10"], &[])]),
    )
    .unwrap();
    eventually("a record beside a broken one", || {
        udp_ask(&sock, server, 22, "app-new-1", 1) == (0, vec![ip("10.202.1.10")])
    });
    assert_eq!(
        udp_ask(&sock, server, 23, "api", 1),
        (0, vec![ip("10.202.1.9")])
    );
    std::fs::remove_file(&bad).unwrap();

    // A second network: the same daemon listens on its gateway once
    // ensure_running returns, and stops when it is removed.
    h.bridge(&["10.202.2.1/24"]);
    h.network("other_default", &["10.202.2.1"], true);
    h.ensure_daemon();
    assert_eq!(h.spawned, 1);
    assert_eq!(h.daemon_pid(), pid);
    let sock2 = h.ns.enter(|| UdpSocket::bind("10.202.2.1:0").unwrap());
    sock2
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // The host asking on other_default's gateway sees that network's names.
    assert_eq!(
        udp_ask(&sock2, sa("10.202.2.1:53"), 30, "web", 1),
        (3, vec![])
    );
    dnsdb::remove_network(&h.root, "other_default").unwrap();
    eventually("the listener to close", || {
        daemon::running(&h.root)
            .unwrap()
            .is_some_and(|s| s.listening == vec![ip("10.202.1.1")])
    });
    sock2.connect("10.202.2.1:53").unwrap();
    sock2.send(&query(31, "web", 1)).unwrap();
    let err = sock2.recv(&mut [0u8; 512]).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "nothing listens any more"
    );

    // The last network goes: the daemon exits on its own, cleanly.
    dnsdb::remove_network(&h.root, "app_default").unwrap();
    let status = h.wait_daemon_exit();
    assert!(status.success(), "{status}");
    assert!(!daemon::pid_file(&h.root).exists());
    assert_eq!(daemon::running(&h.root).unwrap(), None);
}

/// One daemon per root, a gateway bound before its bridge exists, and stop().
#[test]
fn one_daemon_per_root_and_stop() {
    require_root!();
    let mut h = Host::new();
    // The record comes before the bridge (IP_FREEBIND).
    h.network("app_default", &["10.203.1.1"], false);
    dnsdb::put_endpoint(
        &h.root,
        &endpoint(
            "a",
            "app-db-1",
            &[("app_default", &["10.203.1.2"], &["db"])],
        ),
    )
    .unwrap();
    h.ensure_daemon();
    h.ensure_daemon();
    assert_eq!(h.spawned, 1);
    h.bridge(&["10.203.1.1/24"]);
    let sock = h.ns.enter(|| UdpSocket::bind("10.203.1.1:0").unwrap());
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(
        udp_ask(&sock, sa("10.203.1.1:53"), 1, "DB", 1),
        (0, vec![ip("10.203.1.2")])
    );
    assert_eq!(
        udp_ask(&sock, sa("10.203.1.1:53"), 2, "db", 28),
        (0, vec![])
    );

    // A second daemon for the same root gives way at once.
    let lock_holder = daemon::running(&h.root).unwrap().unwrap();
    let second = h
        .daemon_command(h.root.path().to_str().unwrap())
        .status()
        .unwrap();
    assert!(second.success());
    assert_eq!(daemon::running(&h.root).unwrap().unwrap(), lock_holder);

    assert!(daemon::stop(&h.root).unwrap());
    let mut child = h.daemon.take().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed by SIGTERM: {status}");
    assert!(!daemon::pid_file(&h.root).exists());
    assert!(!daemon::stop(&h.root).unwrap());
}
