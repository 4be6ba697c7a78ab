//! The DNS message format (RFC 1035), only as much as the server needs: read a
//! query (name compression accepted anywhere it is legal, EDNS payload size
//! noted), and build a response with A, AAAA or PTR answers or an error code.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;

/// Largest UDP answer when the client says nothing (RFC 1035 §4.2.1).
pub const UDP_MIN: usize = 512;
/// Largest UDP answer we ever send, whatever the client offers: the EDNS
/// payload size that avoids IP fragmentation (DNS flag day 2020).
pub const UDP_MAX: usize = 1232;

const HEADER_LEN: usize = 12;
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

/// Response codes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message shorter than its header")]
    ShortHeader,
    #[error("message ends inside a record")]
    Truncated,
    #[error("compression pointer loops or points forward")]
    BadPointer,
    #[error("label longer than 63 bytes or name longer than 255")]
    TooLong,
    #[error("label type {0:#04x} is not supported")]
    BadLabel(u8),
    #[error("message is a response, not a query")]
    NotAQuery,
    #[error("query has {0} questions, expected 1")]
    QuestionCount(u16),
}

/// A domain name as labels of raw bytes, case preserved (resolvers that
/// randomise case check that the answer echoes it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    pub labels: Vec<Vec<u8>>,
}

impl Name {
    /// Lower-case dotted form without the trailing dot, for matching.
    pub fn to_lowercase(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&String::from_utf8_lossy(l).to_ascii_lowercase());
        }
        s
    }

    /// Splits a dotted name (a trailing dot is allowed) into labels.
    pub fn from_dotted(s: &str) -> Name {
        Name {
            labels: s
                .trim_end_matches('.')
                .split('.')
                .filter(|l| !l.is_empty())
                .map(|l| l.as_bytes().to_vec())
                .collect(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for l in &self.labels {
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
    }
}

/// The single question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub opcode: u8,
    /// Recursion desired, echoed in the response.
    pub rd: bool,
    pub question: Question,
    /// The client's EDNS UDP payload size when it sent an OPT record.
    pub edns_size: Option<u16>,
}

impl Query {
    /// Largest response this client accepts over UDP.
    pub fn udp_limit(&self) -> usize {
        match self.edns_size {
            Some(n) => (n as usize).clamp(UDP_MIN, UDP_MAX),
            None => UDP_MIN,
        }
    }
}

/// Answer data; the owner name of every answer is the question's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn skip(&mut self, n: usize) -> Result<(), WireError> {
        if self.buf.len() - self.pos < n {
            return Err(WireError::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    /// Reads a name, following compression pointers; each pointer must go
    /// strictly backwards, which also rules out loops.
    fn name(&mut self) -> Result<Name, WireError> {
        let mut labels = Vec::new();
        let mut total = 1;
        let mut pos = self.pos;
        // Where reading continues once the name is done (after the first pointer).
        let mut resume = None;
        loop {
            let len = *self.buf.get(pos).ok_or(WireError::Truncated)?;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    pos += 1;
                    break;
                }
                0x00 => {
                    let len = len as usize;
                    let label = self
                        .buf
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(WireError::Truncated)?;
                    total += len + 1;
                    if len > MAX_LABEL || total > MAX_NAME {
                        return Err(WireError::TooLong);
                    }
                    labels.push(label.to_vec());
                    pos += 1 + len;
                }
                0xC0 => {
                    let lo = *self.buf.get(pos + 1).ok_or(WireError::Truncated)?;
                    let target = (((len & 0x3F) as usize) << 8) | lo as usize;
                    if target >= pos {
                        return Err(WireError::BadPointer);
                    }
                    resume.get_or_insert(pos + 2);
                    pos = target;
                }
                _ => return Err(WireError::BadLabel(len)),
            }
        }
        self.pos = resume.unwrap_or(pos);
        Ok(Name { labels })
    }
}

/// Reads a query. Any answer, authority or additional records are skipped,
/// except that an OPT record tells the client's UDP payload size.
pub fn parse_query(buf: &[u8]) -> Result<Query, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::ShortHeader);
    }
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 != 0 {
        return Err(WireError::NotAQuery);
    }
    let qd = r.u16()?;
    let an = r.u16()?;
    let ns = r.u16()?;
    let ar = r.u16()?;
    if qd != 1 {
        return Err(WireError::QuestionCount(qd));
    }
    let name = r.name()?;
    let qtype = r.u16()?;
    let qclass = r.u16()?;
    let mut edns_size = None;
    for i in 0..(an as usize + ns as usize + ar as usize) {
        r.name()?;
        let rtype = r.u16()?;
        let class = r.u16()?;
        r.skip(4)?; // TTL
        let rdlen = r.u16()? as usize;
        r.skip(rdlen)?;
        if rtype == TYPE_OPT && i >= an as usize + ns as usize {
            edns_size = Some(class);
        }
    }
    Ok(Query {
        id,
        opcode: ((flags >> 11) & 0xF) as u8,
        rd: flags & 0x0100 != 0,
        question: Question {
            name,
            qtype,
            qclass,
        },
        edns_size,
    })
}

/// The id of a message, if it has a header at all (to answer FORMERR).
pub fn message_id(buf: &[u8]) -> Option<u16> {
    (buf.len() >= HEADER_LEN).then(|| u16::from_be_bytes([buf[0], buf[1]]))
}

/// Builds a response to `q`. When the answers do not fit in `limit` bytes the
/// answers are dropped and TC is set, so the client retries over TCP.
pub fn response(q: &Query, rcode: Rcode, answers: &[Rdata], ttl: u32, limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.len() * 16);
    let aa = rcode == Rcode::NoError || rcode == Rcode::NxDomain;
    header(&mut out, q.id, q.opcode, q.rd, aa, rcode);
    out[5] = 1; // QDCOUNT
    q.question.name.encode(&mut out);
    out.extend_from_slice(&q.question.qtype.to_be_bytes());
    out.extend_from_slice(&q.question.qclass.to_be_bytes());
    let question_end = out.len();
    let opt_len = if q.edns_size.is_some() { 11 } else { 0 };
    let mut count = 0u16;
    for a in answers {
        // The owner is the question's name: a pointer to offset 12.
        out.extend_from_slice(&[0xC0, HEADER_LEN as u8]);
        let (rtype, data): (u16, Vec<u8>) = match a {
            Rdata::A(ip) => (TYPE_A, ip.octets().to_vec()),
            Rdata::Aaaa(ip) => (TYPE_AAAA, ip.octets().to_vec()),
            Rdata::Ptr(name) => {
                let mut d = Vec::new();
                Name::from_dotted(name).encode(&mut d);
                (TYPE_PTR, d)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
        count += 1;
    }
    if out.len() + opt_len > limit {
        out.truncate(question_end);
        count = 0;
        out[2] |= 0x02; // TC
    }
    out[6..8].copy_from_slice(&count.to_be_bytes());
    if q.edns_size.is_some() {
        // OPT: root name, our payload size, extended rcode/version/flags 0.
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&(UDP_MAX as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        out[11] = 1; // ARCOUNT
    }
    out
}

/// A response with no question section (for queries that could not be read).
pub fn error_response(id: u16, rcode: Rcode) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    header(&mut out, id, 0, false, false, rcode);
    out
}

fn header(out: &mut Vec<u8>, id: u16, opcode: u8, rd: bool, aa: bool, rcode: Rcode) {
    let mut flags: u16 = 0x8000 | ((opcode as u16 & 0xF) << 11) | 0x0080 | rcode as u16;
    if aa {
        flags |= 0x0400;
    }
    if rd {
        flags |= 0x0100;
    }
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
}

/// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` or the 32
/// nibbles of `….ip6.arpa`. `name` is lower-case without the trailing dot.
pub fn ptr_address(name: &str) -> Option<std::net::IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let mut o = [0u8; 4];
        for (i, p) in parts.iter().rev().enumerate() {
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            o[i] = p.parse().ok()?;
        }
        return Some(Ipv4Addr::from(o).into());
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut v: u128 = 0;
    for n in nibbles.iter().rev() {
        if n.len() != 1 {
            return None;
        }
        v = (v << 4) | u8::from_str_radix(n, 16).ok()? as u128;
    }
    Some(Ipv6Addr::from(v).into())
}

/// The reverse name of an address, as `ptr_address` reads it.
pub fn reverse_name(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        std::net::IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xF, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
