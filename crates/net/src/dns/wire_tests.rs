use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Captured on this machine from busybox 1.35 `nslookup -type=a Web.Example.COM.`.
const BUSYBOX_A: &str = "cc6b0100000100000000000003576562074578616d706c6503434f4d0000010001";
// busybox `nslookup 10.89.0.2` (reverse lookup; flags RD+AD).
const BUSYBOX_PTR: &str =
    "b7c5012000010000000000000132013002383902313007696e2d61646472046172706100000c0001";
// glibc 2.36 `getent ahosts app-web-1` with `options edns0` (OPT, 1200 bytes).
const GLIBC_A_EDNS: &str =
    "1bf301200001000000000001096170702d7765622d31000001000100002904b0000000000000";
const GLIBC_AAAA_EDNS: &str =
    "ddef01200001000000000001096170702d7765622d3100001c000100002904b0000000000000";

#[test]
fn reads_busybox_query_keeping_case() {
    let q = parse_query(&hex(BUSYBOX_A)).unwrap();
    assert_eq!(q.id, 0xcc6b);
    assert!(q.rd);
    assert_eq!(q.opcode, 0);
    assert_eq!(q.question.qtype, TYPE_A);
    assert_eq!(q.question.qclass, CLASS_IN);
    assert_eq!(q.question.name.to_lowercase(), "web.example.com");
    assert_eq!(q.question.name.labels[0], b"Web");
    assert_eq!(q.edns_size, None);
    assert_eq!(q.udp_limit(), 512);
}

#[test]
fn reads_reverse_query() {
    let q = parse_query(&hex(BUSYBOX_PTR)).unwrap();
    assert_eq!(q.question.qtype, TYPE_PTR);
    let name = q.question.name.to_lowercase();
    assert_eq!(name, "2.0.89.10.in-addr.arpa");
    assert_eq!(ptr_address(&name), Some("10.89.0.2".parse().unwrap()));
}

#[test]
fn reads_edns_payload_size() {
    let q = parse_query(&hex(GLIBC_A_EDNS)).unwrap();
    assert_eq!(q.edns_size, Some(1200));
    assert_eq!(q.udp_limit(), 1200);
    assert_eq!(q.question.name.to_lowercase(), "app-web-1");
    let q6 = parse_query(&hex(GLIBC_AAAA_EDNS)).unwrap();
    assert_eq!(q6.question.qtype, TYPE_AAAA);
}

#[test]
fn a_response_is_byte_exact() {
    let q = parse_query(&hex(BUSYBOX_A)).unwrap();
    let r = response(
        &q,
        Rcode::NoError,
        &[Rdata::A("10.89.0.2".parse().unwrap())],
        0,
        512,
    );
    let expected = hex(concat!(
        "cc6b",
        "8580",
        "0001",
        "0001",
        "0000",
        "0000", // QR AA RD RA, 1 question, 1 answer
        "03576562074578616d706c6503434f4d00",
        "0001",
        "0001", // question, case kept
        "c00c",
        "0001",
        "0001",
        "00000000",
        "0004",
        "0a590002", // answer, TTL 0
    ));
    assert_eq!(r, expected);
}

#[test]
fn edns_query_gets_opt_back() {
    let q = parse_query(&hex(GLIBC_AAAA_EDNS)).unwrap();
    let r = response(
        &q,
        Rcode::NoError,
        &[Rdata::Aaaa("fd00::2".parse().unwrap())],
        0,
        q.udp_limit(),
    );
    assert_eq!(&r[6..12], &[0, 1, 0, 0, 0, 1]);
    // The OPT record closes the message: root, type 41, size 1232, zeros.
    assert_eq!(&r[r.len() - 11..], &hex("00002904d0000000000000")[..]);
    // The AAAA answer sits between question and OPT.
    let ans = &r[r.len() - 11 - 28..r.len() - 11];
    assert_eq!(&ans[..4], &hex("c00c001c"));
    assert_eq!(&ans[12..], &"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
}

#[test]
fn ptr_and_error_codes() {
    let q = parse_query(&hex(BUSYBOX_PTR)).unwrap();
    let r = response(
        &q,
        Rcode::NoError,
        &[Rdata::Ptr("app-web-1".into())],
        0,
        512,
    );
    let tail = hex("c00c000c000100000000000b096170702d7765622d3100");
    assert_eq!(&r[r.len() - tail.len()..], &tail[..]);
    for (rcode, flags) in [
        (Rcode::NxDomain, "8583"), // authoritative "no such name"
        (Rcode::ServFail, "8182"),
        (Rcode::Refused, "8185"),
    ] {
        let r = response(&q, rcode, &[], 0, 512);
        assert_eq!(&r[2..4], &hex(flags)[..], "{rcode:?}");
        assert_eq!(&r[6..8], &[0, 0]);
    }
    assert_eq!(
        error_response(0x1234, Rcode::FormErr),
        hex("123480810000000000000000")
    );
}

#[test]
fn too_many_answers_set_tc() {
    let q = parse_query(&hex(BUSYBOX_A)).unwrap();
    let many: Vec<Rdata> = (0..40)
        .map(|i| Rdata::A(Ipv4Addr::new(10, 0, 0, i)))
        .collect();
    let r = response(&q, Rcode::NoError, &many, 0, 512);
    assert_eq!(r[2] & 0x02, 0x02);
    assert_eq!(&r[6..8], &[0, 0]);
    let tcp = response(&q, Rcode::NoError, &many, 0, 65535);
    assert_eq!(tcp[2] & 0x02, 0);
    assert_eq!(u16::from_be_bytes([tcp[6], tcp[7]]), 40);
}

#[test]
fn compression_pointers_accepted_and_checked() {
    // A query whose additional section names its record with a pointer to
    // the question (as mDNS-style known answers do), then an OPT record.
    let mut m = hex("abcd01000001000000000002");
    m.extend(hex("0377656200" /* web */));
    m.extend(hex("00010001"));
    m.extend(hex("c00c000100010000000000040a000001"));
    m.extend(hex("0000290200000000000000"));
    let q = parse_query(&m).unwrap();
    assert_eq!(q.question.name.to_lowercase(), "web");
    assert_eq!(q.edns_size, Some(512));

    // A name made of a label then a pointer back to an earlier name.
    let buf = hex("000000000000000000000000036170700003777777c00c");
    let mut r = Reader { buf: &buf, pos: 17 };
    assert_eq!(r.name().unwrap().to_lowercase(), "www.app");
    assert_eq!(r.pos, buf.len());

    // Pointers to themselves or forwards are refused (no loops).
    let mut looped = hex("abcd01000001000000000000");
    looped.extend(hex("c00c00010001"));
    assert_eq!(parse_query(&looped), Err(WireError::BadPointer));
}

#[test]
fn malformed_queries_are_errors_not_panics() {
    let good = hex(GLIBC_A_EDNS);
    for n in 0..good.len() {
        let _ = parse_query(&good[..n]);
    }
    assert_eq!(parse_query(&good[..5]), Err(WireError::ShortHeader));
    assert_eq!(parse_query(&good[..20]), Err(WireError::Truncated));
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert_eq!(parse_query(&resp), Err(WireError::NotAQuery));
    let mut two = good.clone();
    two[5] = 2;
    assert_eq!(parse_query(&two), Err(WireError::QuestionCount(2)));
    let mut long = hex("abcd01000001000000000000");
    for _ in 0..5 {
        long.push(63);
        long.extend([b'a'; 63]);
    }
    long.extend(hex("0000010001"));
    assert_eq!(parse_query(&long), Err(WireError::TooLong));
    let mut ext = hex("abcd01000001000000000000");
    ext.extend(hex("4100010001"));
    assert_eq!(parse_query(&ext), Err(WireError::BadLabel(0x41)));
}

#[test]
fn reverse_names_round_trip() {
    for ip in ["10.89.0.2", "fd00:1234::5", "::1"] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        assert_eq!(ptr_address(&reverse_name(ip)), Some(ip));
    }
    assert_eq!(
        reverse_name("fd00::2".parse().unwrap()),
        "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"
    );
    assert_eq!(ptr_address("1.2.3.in-addr.arpa"), None);
    assert_eq!(ptr_address("1.2.3.04.in-addr.arpa"), None);
    assert_eq!(ptr_address("1.2.3.256.in-addr.arpa"), None);
    assert_eq!(ptr_address("example.com"), None);
}
