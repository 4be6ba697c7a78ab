//! Published ports as nf_tables map elements, written over netlink: adding
//! or removing a container's ports is one message to the kernel instead of
//! an `iptables-restore` process (which costs milliseconds to start).
//!
//! Per family, one table `berth` holds two maps and two NAT chains that
//! run just before iptables' own NAT (priority -101), so Docker's DNAT
//! never sees berth's ports first:
//!
//! ```text
//! table ip berth {
//!   map addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//!   map any  { type inet_proto . inet_service : ipv4_addr . inet_service }
//!   chain prerouting { type nat hook prerouting priority -101
//!     fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @addr
//!     fib daddr type local dnat ip to meta l4proto . th dport map @any }
//!   chain output { type nat hook output priority -101; the same two rules }
//! }
//! ```
//!
//! Everything else (forwarding, masquerade, the moby#45610 guard) stays in
//! iptables, where accepting DNATed connections does not care which table
//! did the DNAT. The table goes with berth's last network of its family.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use super::rules::Family;
use crate::netlink::{Attrs, nl_align, send_to_kernel, socket};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// Name of berth's table in each family.
pub const TABLE: &str = "berth";

// Registers, as nft numbers them: 1 is the first 16-byte register, 9 and
// up its following 32-bit pieces.
const REG_1: u32 = 1;
const REG32_01: u32 = 9;

fn nfproto(f: Family) -> u8 {
    match f {
        Family::V4 => NFPROTO_IPV4,
        Family::V6 => NFPROTO_IPV6,
    }
}

fn addr_len(f: Family) -> usize {
    match f {
        Family::V4 => 4,
        Family::V6 => 16,
    }
}

/// A netlink socket to nf_tables in the calling thread's namespace.
struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        Ok(Socket {
            fd: socket(NETLINK_NETFILTER)?,
            seq: 0,
        })
    }

    /// One message: netlink header, `struct nfgenmsg`, attributes.
    fn message(
        &mut self,
        out: &mut Vec<u8>,
        kind: u16,
        flags: u16,
        family: u8,
        attrs: Attrs,
    ) -> u32 {
        self.seq += 1;
        let body = attrs.into_bytes();
        let len = 16 + 4 + body.len();
        let kind = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
            kind
        } else {
            (NFNL_SUBSYS_NFTABLES << 8) | kind
        };
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.push(family);
        out.push(0); // version
        let res_id: u16 = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
            NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        out.extend_from_slice(&res_id.to_be_bytes());
        out.extend_from_slice(&body);
        out.resize(nl_align(out.len()), 0);
        self.seq
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        send_to_kernel(&self.fd, buf)
    }

    /// Reads replies until the ACK of `last`; the first error wins. With
    /// `dump`, collects the messages of a multipart reply instead.
    fn replies(&self, last: u32, dump: bool) -> io::Result<Vec<Vec<u8>>> {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        loop {
            // SAFETY: receiving into our buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let mlen = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let mtype = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let mflags = u16::from_ne_bytes(buf[off + 6..off + 8].try_into().unwrap());
                let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if mlen < 16 || off + mlen > n {
                    break;
                }
                if mtype == NLMSG_ERROR {
                    let errno = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    if errno != 0 {
                        return Err(io::Error::from_raw_os_error(-errno));
                    }
                    if mseq == last {
                        return Ok(out);
                    }
                } else if mtype == NLMSG_DONE {
                    return Ok(out);
                } else if dump {
                    out.push(buf[off..off + mlen].to_vec());
                    if mflags & NLM_F_MULTI == 0 && mseq == last {
                        return Ok(out);
                    }
                }
                off += nl_align(mlen);
            }
        }
    }

    /// Sends `msgs` (kind, flags, attributes) as one transaction: all of
    /// them take effect, or none.
    fn batch(&mut self, family: u8, msgs: Vec<(u16, u16, Attrs)>) -> io::Result<()> {
        let mut buf = Vec::new();
        self.message(&mut buf, NFNL_MSG_BATCH_BEGIN, 0, 0, Attrs::default());
        let mut last = 0;
        for (kind, flags, attrs) in msgs {
            last = self.message(&mut buf, kind, flags | NLM_F_ACK, family, attrs);
        }
        self.message(&mut buf, NFNL_MSG_BATCH_END, 0, 0, Attrs::default());
        self.send(&buf)?;
        self.replies(last, false).map(|_| ())
    }
}

fn expr(name: &str, data: Attrs) -> Attrs {
    // NFTA_EXPR_NAME, NFTA_EXPR_DATA
    Attrs::default().str(1, name).nested(2, data)
}

fn exprs(list: Vec<Attrs>) -> Attrs {
    list.into_iter()
        .fold(Attrs::default(), |a, e| a.nested(1, e)) // NFTA_LIST_ELEM
}

/// `fib daddr type local`
fn daddr_is_local() -> Vec<Attrs> {
    const RTN_LOCAL: u32 = 2;
    vec![
        // NFTA_FIB_DREG, _RESULT (ADDRTYPE), _FLAGS (DADDR)
        expr("fib", Attrs::default().be32(1, REG_1).be32(2, 3).be32(3, 2)),
        // NFTA_CMP_SREG, _OP (EQ), _DATA { NFTA_DATA_VALUE }
        expr(
            "cmp",
            Attrs::default()
                .be32(1, REG_1)
                .be32(2, 0)
                .nested(3, Attrs::default().bytes(1, &RTN_LOCAL.to_ne_bytes())),
        ),
    ]
}

/// NFTA_PAYLOAD_DREG, _BASE, _OFFSET, _LEN
fn payload(reg: u32, base: u32, offset: u32, len: u32) -> Attrs {
    expr(
        "payload",
        Attrs::default()
            .be32(1, reg)
            .be32(2, base)
            .be32(3, offset)
            .be32(4, len),
    )
}

/// NFTA_META_DREG, _KEY (L4PROTO)
fn l4proto(reg: u32) -> Attrs {
    expr("meta", Attrs::default().be32(1, reg).be32(2, 16))
}

/// One DNAT rule of a chain: the key loaded from the packet, looked up in
/// `map`, and the address and port found used as the new destination.
fn dnat_rule(f: Family, chain: &str, map: &str) -> Attrs {
    let mut e = daddr_is_local();
    let words = addr_len(f) as u32 / 4;
    let (daddr_off, proto_reg) = match f {
        Family::V4 => (16, REG32_01),
        Family::V6 => (24, REG32_01 + 3),
    };
    if map == "addr" {
        e.push(payload(REG_1, 1, daddr_off, addr_len(f) as u32));
        e.push(l4proto(proto_reg));
        e.push(payload(proto_reg + 1, 2, 2, 2));
    } else {
        e.push(l4proto(REG_1));
        e.push(payload(REG32_01, 2, 2, 2));
    }
    // NFTA_LOOKUP_SET, _SREG, _DREG
    e.push(expr(
        "lookup",
        Attrs::default().str(1, map).be32(2, REG_1).be32(3, REG_1),
    ));
    // NFTA_NAT_TYPE (DNAT), _FAMILY, _REG_ADDR_MIN, _REG_PROTO_MIN
    e.push(expr(
        "nat",
        Attrs::default()
            .be32(1, 1)
            .be32(2, u32::from(nfproto(f)))
            .be32(3, REG_1)
            .be32(5, REG32_01 + words - 1),
    ));
    // NFTA_RULE_TABLE, _CHAIN, _EXPRESSIONS
    Attrs::default()
        .str(1, TABLE)
        .str(2, chain)
        .nested(4, exprs(e))
}

/// The table, its maps and chains, in one transaction; nothing if the
/// table already exists.
pub fn ensure_table(f: Family) -> io::Result<()> {
    let mut s = Socket::open()?;
    if table_exists(&mut s, f)? {
        return Ok(());
    }
    let a = addr_len(f) as u32;
    let mut msgs = vec![(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE | NLM_F_EXCL,
        Attrs::default().str(1, TABLE).be32(2, 0),
    )];
    for (id, map, key_len) in [(1u32, "addr", a + 8), (2, "any", 8)] {
        // NFTA_SET_TABLE, _NAME, _FLAGS (MAP), _KEY_TYPE, _KEY_LEN,
        // _DATA_TYPE, _DATA_LEN, _ID. The types are nft's concatenation
        // ids, kept only for tools that list the table.
        let key_type = if map == "addr" { 0x1cd30d } else { 0x30d };
        msgs.push((
            NFT_MSG_NEWSET,
            NLM_F_CREATE | NLM_F_EXCL,
            Attrs::default()
                .str(1, TABLE)
                .str(2, map)
                .be32(3, 8)
                .be32(4, key_type)
                .be32(5, key_len)
                .be32(6, 0x1cd)
                .be32(7, a + 4)
                .be32(10, id),
        ));
    }
    // (name, hook): NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT
    for (chain, hook) in [("prerouting", 0u32), ("output", 3)] {
        // NFTA_CHAIN_TABLE, _NAME, _HOOK {HOOKNUM, PRIORITY}, _POLICY, _TYPE
        msgs.push((
            NFT_MSG_NEWCHAIN,
            NLM_F_CREATE | NLM_F_EXCL,
            Attrs::default()
                .str(1, TABLE)
                .str(3, chain)
                .nested(4, Attrs::default().be32(1, hook).be32(2, (-101i32) as u32))
                .be32(5, 1)
                .str(7, "nat"),
        ));
        for map in ["addr", "any"] {
            msgs.push((NFT_MSG_NEWRULE, NLM_F_CREATE, dnat_rule(f, chain, map)));
        }
    }
    match s.batch(nfproto(f), msgs) {
        // Made meanwhile by another berth (outside our lock: another root
        // of an older berth); it is the same table.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r,
    }
}

fn table_exists(s: &mut Socket, f: Family) -> io::Result<bool> {
    let mut buf = Vec::new();
    let seq = s.message(
        &mut buf,
        NFT_MSG_GETTABLE,
        NLM_F_ACK,
        nfproto(f),
        Attrs::default().str(1, TABLE),
    );
    s.send(&buf)?;
    match s.replies(seq, true) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes berth's table of `f` and everything in it (no error if absent).
pub fn delete_table(f: Family) -> io::Result<()> {
    let mut s = Socket::open()?;
    let msg = (NFT_MSG_DELTABLE, 0, Attrs::default().str(1, TABLE));
    match s.batch(nfproto(f), vec![msg]) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

/// Names of the nf_tables tables of `f` in this namespace.
pub fn tables(f: Family) -> io::Result<Vec<String>> {
    let mut s = Socket::open()?;
    let mut buf = Vec::new();
    let seq = s.message(
        &mut buf,
        NFT_MSG_GETTABLE,
        NLM_F_DUMP,
        nfproto(f),
        Attrs::default(),
    );
    s.send(&buf)?;
    let mut names = Vec::new();
    for m in s.replies(seq, true)? {
        // header (16) + nfgenmsg (4), then attributes: NFTA_TABLE_NAME = 1
        let mut off = 20;
        while off + 4 <= m.len() {
            let len = u16::from_ne_bytes([m[off], m[off + 1]]) as usize;
            let kind = u16::from_ne_bytes([m[off + 2], m[off + 3]]) & 0x3fff;
            if len < 4 || off + len > m.len() {
                break;
            }
            if kind == 1 {
                let v = &m[off + 4..off + len];
                names.push(
                    String::from_utf8_lossy(v.split(|b| *b == 0).next().unwrap_or(v)).into_owned(),
                );
            }
            off += nl_align(len);
        }
    }
    Ok(names)
}

/// One published port as a map element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortElem {
    /// `None`: every local address (the `any` map).
    pub host_ip: Option<IpAddr>,
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub proto: u8,
    pub host_port: u16,
    pub to: IpAddr,
    pub to_port: u16,
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Key and value of an element, laid out as the registers hold them:
/// every field padded to 4 bytes.
pub fn element_bytes(e: &PortElem) -> (&'static str, Vec<u8>, Vec<u8>) {
    let mut key = Vec::new();
    let map = match &e.host_ip {
        Some(ip) => {
            key.extend(ip_bytes(ip));
            "addr"
        }
        None => "any",
    };
    key.extend([e.proto, 0, 0, 0]);
    key.extend(e.host_port.to_be_bytes());
    key.extend([0, 0]);
    let mut data = ip_bytes(&e.to);
    data.extend(e.to_port.to_be_bytes());
    data.extend([0, 0]);
    (map, key, data)
}

/// Adds (or, with `delete`, removes) elements of `f`, in one transaction.
pub fn set_ports(f: Family, elems: &[PortElem], delete: bool) -> io::Result<()> {
    if elems.is_empty() {
        return Ok(());
    }
    let mut s = Socket::open()?;
    let mut msgs = Vec::new();
    for map in ["addr", "any"] {
        let mut list = Attrs::default();
        let mut n = 0;
        for e in elems {
            let (m, key, data) = element_bytes(e);
            if m != map {
                continue;
            }
            // NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE }, NFTA_SET_ELEM_DATA { … }
            let mut el = Attrs::default().nested(1, Attrs::default().bytes(1, &key));
            if !delete {
                el = el.nested(2, Attrs::default().bytes(1, &data));
            }
            list = list.nested(1, el);
            n += 1;
        }
        if n == 0 {
            continue;
        }
        // NFTA_SET_ELEM_LIST_TABLE, _SET, _ELEMENTS
        let attrs = Attrs::default().str(1, TABLE).str(2, map).nested(3, list);
        let (kind, flags) = if delete {
            (NFT_MSG_DELSETELEM, 0)
        } else {
            (NFT_MSG_NEWSETELEM, NLM_F_CREATE)
        };
        msgs.push((kind, flags, attrs));
    }
    s.batch(nfproto(f), msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_laid_out_as_registers() {
        let any = PortElem {
            host_ip: None,
            proto: 6,
            host_port: 8080,
            to: "10.0.0.2".parse().unwrap(),
            to_port: 80,
        };
        let (map, key, data) = element_bytes(&any);
        assert_eq!(map, "any");
        // What `nft --debug=netlink` shows for { tcp . 8080 : 10.0.0.2 . 80 }.
        assert_eq!(key, [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(data, [10, 0, 0, 2, 0, 80, 0, 0]);
        let v6 = PortElem {
            host_ip: Some("fd00::1".parse().unwrap()),
            proto: 17,
            host_port: 53,
            to: "fd00::2".parse().unwrap(),
            to_port: 5353,
        };
        let (map, key, data) = element_bytes(&v6);
        assert_eq!(map, "addr");
        assert_eq!(key.len(), 16 + 8);
        assert_eq!(&key[16..], &[17, 0, 0, 0, 0, 53, 0, 0]);
        assert_eq!(data.len(), 20);
    }

    #[test]
    fn messages_carry_the_nftables_subsystem() {
        let mut s = Socket::open().unwrap();
        let mut buf = Vec::new();
        s.message(&mut buf, NFNL_MSG_BATCH_BEGIN, 0, 0, Attrs::default());
        s.message(
            &mut buf,
            NFT_MSG_NEWTABLE,
            0,
            NFPROTO_IPV4,
            Attrs::default().str(1, TABLE),
        );
        // batch begin: type 16, res_id = NFNL_SUBSYS_NFTABLES (big endian)
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 16);
        assert_eq!(&buf[16..20], &[0, 0, 0, 10]);
        // the table message: type (10 << 8) | 0, family ipv4
        assert_eq!(u16::from_ne_bytes([buf[24], buf[25]]), 0x0a00);
        assert_eq!(buf[36], NFPROTO_IPV4);
    }
}
