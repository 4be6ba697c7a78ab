use super::*;
use crate::dns::wire::Name;
use crate::dnsdb::EndpointNetwork;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(name: &str, gw: &str, internal: bool) -> DnsNetwork {
    DnsNetwork {
        name: name.into(),
        gateways: vec![ip(gw)],
        internal,
    }
}

fn ep(id: &str, name: &str, nets: &[(&str, &[&str], &[&str])]) -> Endpoint {
    Endpoint {
        container_id: id.into(),
        container_name: name.into(),
        networks: nets
            .iter()
            .map(|(n, addrs, aliases)| EndpointNetwork {
                network: n.to_string(),
                addresses: addrs.iter().map(|a| ip(a)).collect(),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        dns_servers: vec![],
    }
}

fn q(name: &str, qtype: u16) -> Question {
    Question {
        name: Name::from_dotted(name),
        qtype,
        qclass: CLASS_IN,
    }
}

fn a(s: &str) -> Rdata {
    match ip(s) {
        IpAddr::V4(v) => Rdata::A(v),
        IpAddr::V6(v) => Rdata::Aaaa(v),
    }
}

/// Project `app`: front (10.1.0.0/24) with web×2 and proxy, back
/// (10.2.0.0/24, internal) with web-1 again and db; `other` (10.3.0.0/24)
/// holds a container also called `db`.
fn fixture() -> Records {
    Records::new(
        vec![
            net("app_front", "10.1.0.1", false),
            net("app_back", "10.2.0.1", true),
            net("other", "10.3.0.1", false),
        ],
        vec![
            ep(
                "p",
                "app-proxy-1",
                &[("app_front", &["10.1.0.10"], &["proxy", "edge"])],
            ),
            ep(
                "w1",
                "app-web-1",
                &[
                    ("app_front", &["10.1.0.2", "fd00:1::2"], &["web"]),
                    ("app_back", &["10.2.0.2"], &["web", "api"]),
                ],
            ),
            ep("w2", "app-web-2", &[("app_front", &["10.1.0.3"], &["web"])]),
            ep("d", "app-db-1", &[("app_back", &["10.2.0.5"], &["db"])]),
            ep("o", "other-db-1", &[("other", &["10.3.0.2"], &["db"])]),
        ],
    )
}

const FRONT_GW: &str = "10.1.0.1";

#[test]
fn service_container_name_and_alias_case_insensitive() {
    let r = fixture();
    let from = ip("10.1.0.10"); // proxy
    let to = ip(FRONT_GW);
    assert_eq!(
        resolve(&r, from, to, &q("APP-WEB-2.", TYPE_A), 0),
        Outcome::Answer(vec![a("10.1.0.3")])
    );
    assert_eq!(
        resolve(&r, ip("10.1.0.2"), to, &q("Edge", TYPE_A), 0),
        Outcome::Answer(vec![a("10.1.0.10")])
    );
    assert_eq!(
        resolve(&r, from, to, &q("web", TYPE_A), 0),
        Outcome::Answer(vec![a("10.1.0.2"), a("10.1.0.3")])
    );
}

#[test]
fn replicas_rotate() {
    let r = fixture();
    let (from, to) = (ip("10.1.0.10"), ip(FRONT_GW));
    let first = |rot| match resolve(&r, from, to, &q("web", TYPE_A), rot) {
        Outcome::Answer(v) => {
            assert_eq!(v.len(), 2);
            v[0].clone()
        }
        o => panic!("{o:?}"),
    };
    assert_eq!(first(0), a("10.1.0.2"));
    assert_eq!(first(1), a("10.1.0.3"));
    assert_eq!(first(2), a("10.1.0.2"));
}

#[test]
fn answers_only_addresses_on_shared_networks() {
    let r = fixture();
    // The proxy shares only app_front with web-1: not web-1's back address.
    assert_eq!(
        resolve(
            &r,
            ip("10.1.0.10"),
            ip(FRONT_GW),
            &q("app-web-1", TYPE_A),
            0
        ),
        Outcome::Answer(vec![a("10.1.0.2")])
    );
    // db shares only app_back with web-1; `api` is an alias there.
    assert_eq!(
        resolve(&r, ip("10.2.0.5"), ip("10.2.0.1"), &q("api", TYPE_A), 0),
        Outcome::Answer(vec![a("10.2.0.2")])
    );
    // web-1 is on both networks and sees both sets of names.
    assert_eq!(
        resolve(&r, ip("10.1.0.2"), ip(FRONT_GW), &q("db", TYPE_A), 0),
        Outcome::Answer(vec![a("10.2.0.5")])
    );
}

#[test]
fn names_on_other_networks_are_not_answered() {
    let r = fixture();
    // The proxy is not on app_back: `db` and `app-db-1` go upstream.
    assert_eq!(
        resolve(&r, ip("10.1.0.10"), ip(FRONT_GW), &q("db", TYPE_A), 0),
        Outcome::Forward(vec![])
    );
    assert_eq!(
        resolve(&r, ip("10.1.0.10"), ip(FRONT_GW), &q("app-db-1", TYPE_A), 0),
        Outcome::Forward(vec![])
    );
    // On `other`, `db` is that network's own container.
    assert_eq!(
        resolve(&r, ip("10.3.0.2"), ip("10.3.0.1"), &q("db", TYPE_A), 0),
        Outcome::Answer(vec![a("10.3.0.2")])
    );
}

#[test]
fn unknown_source_sees_the_network_it_asked() {
    let r = fixture();
    // The host asks on the back gateway from its own address.
    assert_eq!(
        resolve(&r, ip("10.2.0.1"), ip("10.2.0.1"), &q("db", TYPE_A), 0),
        Outcome::Answer(vec![a("10.2.0.5")])
    );
    assert_eq!(
        resolve(&r, ip("10.1.0.1"), ip(FRONT_GW), &q("db", TYPE_A), 0),
        Outcome::Forward(vec![])
    );
    // Asked at an address that is no gateway: refused.
    assert_eq!(
        resolve(&r, ip("192.0.2.9"), ip("192.0.2.1"), &q("db", TYPE_A), 0),
        Outcome::Refused
    );
}

#[test]
fn aaaa_and_empty_answers() {
    let r = fixture();
    let (from, to) = (ip("10.1.0.10"), ip(FRONT_GW));
    assert_eq!(
        resolve(&r, from, to, &q("app-web-1", TYPE_AAAA), 0),
        Outcome::Answer(vec![a("fd00:1::2")])
    );
    // A name we own, a type we do not have: NOERROR without answers, never
    // a trip upstream (which could give another address for the same name).
    assert_eq!(
        resolve(&r, from, to, &q("app-web-2", TYPE_AAAA), 0),
        Outcome::Answer(vec![])
    );
    assert_eq!(
        resolve(&r, from, to, &q("web", 15 /* MX */), 0),
        Outcome::Answer(vec![])
    );
    assert_eq!(
        resolve(&r, from, to, &q("app-web-1", TYPE_ANY), 0),
        Outcome::Answer(vec![a("10.1.0.2"), a("fd00:1::2")])
    );
}

#[test]
fn ptr_only_for_shared_networks() {
    let r = fixture();
    let (from, to) = (ip("10.1.0.10"), ip(FRONT_GW));
    assert_eq!(
        resolve(&r, from, to, &q("3.0.1.10.in-addr.arpa", TYPE_PTR), 0),
        Outcome::Answer(vec![Rdata::Ptr("app-web-2".into())])
    );
    let v6 = wire::reverse_name(ip("fd00:1::2"));
    assert_eq!(
        resolve(&r, from, to, &q(&v6, TYPE_PTR), 0),
        Outcome::Answer(vec![Rdata::Ptr("app-web-1".into())])
    );
    // db's address is on app_back, which the proxy is not on.
    assert_eq!(
        resolve(&r, from, to, &q("5.0.2.10.in-addr.arpa", TYPE_PTR), 0),
        Outcome::Forward(vec![])
    );
    assert_eq!(
        resolve(
            &r,
            ip("10.2.0.2"),
            ip("10.2.0.1"),
            &q("5.0.2.10.in-addr.arpa", TYPE_PTR),
            0
        ),
        Outcome::Answer(vec![Rdata::Ptr("app-db-1".into())])
    );
}

#[test]
fn internal_only_requesters_get_nxdomain() {
    let r = fixture();
    // db is only on the internal app_back.
    assert_eq!(
        resolve(
            &r,
            ip("10.2.0.5"),
            ip("10.2.0.1"),
            &q("example.com", TYPE_A),
            0
        ),
        Outcome::NxDomain
    );
    // web-1 is also on app_front, so it may go out.
    assert_eq!(
        resolve(
            &r,
            ip("10.2.0.2"),
            ip("10.2.0.1"),
            &q("example.com", TYPE_A),
            0
        ),
        Outcome::Forward(vec![])
    );
}

#[test]
fn container_dns_servers_come_with_forward() {
    let mut e = ep("x", "app-x-1", &[("app_front", &["10.1.0.20"], &[])]);
    e.dns_servers = vec![ip("192.0.2.53")];
    let r = Records::new(vec![net("app_front", FRONT_GW, false)], vec![e]);
    assert_eq!(
        resolve(
            &r,
            ip("10.1.0.20"),
            ip(FRONT_GW),
            &q("example.com", TYPE_A),
            0
        ),
        Outcome::Forward(vec![ip("192.0.2.53")])
    );
    let mut chaos = q("version.bind", 16);
    chaos.qclass = 3;
    assert_eq!(
        resolve(&r, ip("10.1.0.20"), ip(FRONT_GW), &chaos, 0),
        Outcome::Forward(vec![ip("192.0.2.53")])
    );
}

#[test]
fn listen_addresses_are_every_gateway() {
    let r = fixture();
    assert_eq!(
        r.listen_addresses(),
        vec![ip("10.1.0.1"), ip("10.2.0.1"), ip("10.3.0.1")]
    );
    assert_eq!(Records::default().listen_addresses(), Vec::<IpAddr>::new());
}
