//! The few pieces of the DNS wire format berth needs: read a query's
//! question, write an answer with A/AAAA/PTR records or an error code.

use std::net::IpAddr;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    /// Lower-cased, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    /// Recursion desired (copied to the answer).
    pub rd: bool,
    /// Bytes of the question section as received (echoed back).
    pub raw_question: Vec<u8>,
}

/// Reads the first question of a query; `None` for anything malformed or
/// that is not a standard query.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 {
        return None; // a response, or not QUERY
    }
    if u16::from_be_bytes([msg[4], msg[5]]) < 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None; // compression in a question: not produced by resolvers
        }
        labels.push(String::from_utf8_lossy(msg.get(i..i + len)?).to_ascii_lowercase());
        i += len;
        if labels.len() > 127 {
            return None;
        }
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let _class = u16::from_be_bytes([*msg.get(i + 2)?, *msg.get(i + 3)?]);
    Some(Question {
        id,
        name: labels.join("."),
        qtype,
        rd: flags & 0x0100 != 0,
        raw_question: msg[12..i + 4].to_vec(),
    })
}

fn header(q: &Question, rcode: u8, answers: u16, authoritative: bool) -> Vec<u8> {
    let mut flags: u16 = 0x8000 | 0x0080; // QR, RA
    if q.rd {
        flags |= 0x0100;
    }
    if authoritative {
        flags |= 0x0400;
    }
    flags |= rcode as u16;
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&q.id.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&answers.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&q.raw_question);
    v
}

/// An answer with address records (TTL 0: container addresses change).
pub fn answer_addresses(q: &Question, ips: &[IpAddr]) -> Vec<u8> {
    let ips: Vec<&IpAddr> = ips
        .iter()
        .filter(|ip| (q.qtype == TYPE_A) == ip.is_ipv4())
        .collect();
    let mut v = header(q, 0, ips.len() as u16, true);
    for ip in ips {
        v.extend_from_slice(&[0xc0, 12]); // the name of the question
        let (t, data) = match ip {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(&data);
    }
    v
}

/// An answer with PTR records.
pub fn answer_ptr(q: &Question, names: &[String]) -> Vec<u8> {
    let mut v = header(q, 0, names.len() as u16, true);
    for n in names {
        v.extend_from_slice(&[0xc0, 12]);
        v.extend_from_slice(&TYPE_PTR.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        let mut rdata = Vec::new();
        for l in n.split('.').filter(|l| !l.is_empty()) {
            rdata.push(l.len() as u8);
            rdata.extend_from_slice(l.as_bytes());
        }
        rdata.push(0);
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(&rdata);
    }
    v
}

/// An answer with no records and `rcode` (NXDOMAIN, SERVFAIL…).
pub fn answer_error(q: &Question, rcode: u8) -> Vec<u8> {
    header(q, rcode, 0, rcode == RCODE_NXDOMAIN)
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa`) asks about.
pub fn reverse_ip(name: &str) -> Option<IpAddr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut parts: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts.len() != 4 {
        return None;
    }
    parts.reverse();
    Some(IpAddr::from([parts[0], parts[1], parts[2], parts[3]]))
}

#[cfg(test)]
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&0x0100u16.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_answer_round_trip() {
        let q = parse_query(&query(0x1234, "Web", TYPE_A)).unwrap();
        assert_eq!(q.name, "web");
        assert_eq!(q.id, 0x1234);
        let a = answer_addresses(
            &q,
            &["10.0.0.2".parse().unwrap(), "fd00::2".parse().unwrap()],
        );
        assert_eq!(&a[0..2], &[0x12, 0x34]);
        assert_eq!(
            u16::from_be_bytes([a[6], a[7]]),
            1,
            "only the A record for an A query"
        );
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 2]);
        assert_eq!(answer_error(&q, RCODE_NXDOMAIN)[3] & 0xf, RCODE_NXDOMAIN);
        assert!(parse_query(&[0; 5]).is_none());
        assert_eq!(
            reverse_ip("2.0.89.10.in-addr.arpa"),
            Some("10.89.0.2".parse().unwrap())
        );
    }
}
