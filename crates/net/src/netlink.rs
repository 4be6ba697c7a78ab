//! A small synchronous rtnetlink client: just the messages berth needs
//! (create a bridge or a veth pair, set links up, add addresses and routes,
//! delete links), written by hand on a raw `NETLINK_ROUTE` socket. Each
//! request asks for an ACK, so every error comes back with its errno.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_PROTINFO: u16 = 12;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;

/// Attributes appended to a message, with nesting.
#[derive(Default)]
pub struct Attrs {
    buf: Vec<u8>,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

impl Attrs {
    pub fn bytes(mut self, kind: u16, data: &[u8]) -> Self {
        self.put(kind, data);
        self
    }
    fn put(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
    }
    pub fn str(self, kind: u16, s: &str) -> Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.bytes(kind, &v)
    }
    pub fn u32(self, kind: u16, v: u32) -> Self {
        self.bytes(kind, &v.to_ne_bytes())
    }
    pub fn nested(self, kind: u16, inner: Attrs) -> Self {
        self.bytes(kind | NLA_F_NESTED, &inner.buf)
    }
    /// A big-endian u32, as nf_tables wants its integers.
    pub fn be32(self, kind: u16, v: u32) -> Self {
        self.bytes(kind, &v.to_be_bytes())
    }
    /// The encoded attributes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Rounds a netlink length up to 4 bytes.
pub(crate) fn nl_align(n: usize) -> usize {
    align(n)
}

/// `struct ifinfomsg` followed by attributes.
fn ifinfo(index: i32, flags: u32, change: u32, attrs: Attrs) -> Vec<u8> {
    ifinfo_family(libc::AF_UNSPEC as u8, index, flags, change, attrs)
}

fn ifinfo_family(family: u8, index: i32, flags: u32, change: u32, attrs: Attrs) -> Vec<u8> {
    let mut v = vec![family, 0];
    v.extend_from_slice(&0u16.to_ne_bytes()); // type
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v.extend_from_slice(&attrs.buf);
    v
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// Parses a unicast MAC `aa:bb:cc:dd:ee:ff` (a multicast one cannot be an
/// interface's address).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    (mac[0] & 1 == 0).then_some(mac)
}

/// A netlink socket bound in the network namespace of the calling thread at
/// the time it was opened.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A netlink socket of `protocol` (NETLINK_ROUTE, NETLINK_NETFILTER, …).
pub(crate) fn socket(protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `buf` (whole netlink messages) to the kernel on `fd`.
pub(crate) fn send_to_kernel(fd: &OwnedFd, buf: &[u8]) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_nl is valid (address 0: the kernel).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: our buffer and address, for the duration of the call.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        Ok(Netlink {
            fd: socket(libc::NETLINK_ROUTE)?,
            seq: 1,
        })
    }

    /// Sends one request and waits for its ACK.
    fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        self.seq += 1;
        let len = 16 + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        send_to_kernel(&self.fd, &msg)?;
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: receiving into our buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut off = 0usize;
            while off + 16 <= n as usize {
                let mlen = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let mtype = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if mtype == NLMSG_ERROR && mseq == self.seq {
                    let errno = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    return if errno == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-errno))
                    };
                }
                if mlen == 0 {
                    break;
                }
                off += align(mlen);
            }
        }
    }

    pub fn create_bridge(
        &mut self,
        name: &str,
        mtu: Option<u32>,
        mac: Option<[u8; 6]>,
    ) -> io::Result<()> {
        let mut a = Attrs::default().str(IFLA_IFNAME, name);
        if let Some(m) = mtu {
            a = a.u32(IFLA_MTU, m);
        }
        if let Some(mac) = mac {
            a = a.bytes(IFLA_ADDRESS, &mac);
        }
        let a = a.nested(
            IFLA_LINKINFO,
            Attrs::default().str(IFLA_INFO_KIND, "bridge"),
        );
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfo(0, 0, 0, a))
    }

    /// A veth pair: `host` enslaved to `master`, its peer `peer` created
    /// directly in the network namespace of `peer_pid`.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_pid: i32,
        mtu: Option<u32>,
        peer_mac: Option<[u8; 6]>,
    ) -> io::Result<()> {
        let mut p = Attrs::default()
            .str(IFLA_IFNAME, peer)
            .u32(IFLA_NET_NS_PID, peer_pid as u32);
        if let Some(m) = mtu {
            p = p.u32(IFLA_MTU, m);
        }
        if let Some(mac) = peer_mac {
            p = p.bytes(IFLA_ADDRESS, &mac);
        }
        let peer_msg = ifinfo(0, 0, 0, p);
        let info = Attrs::default().str(IFLA_INFO_KIND, "veth").nested(
            IFLA_INFO_DATA,
            Attrs::default().bytes(VETH_INFO_PEER | NLA_F_NESTED, &peer_msg),
        );
        let mut a = Attrs::default()
            .str(IFLA_IFNAME, host)
            .u32(IFLA_MASTER, master);
        if let Some(m) = mtu {
            a = a.u32(IFLA_MTU, m);
        }
        let a = a.nested(IFLA_LINKINFO, info);
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfo(0, 0, 0, a))
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let up = libc::IFF_UP as u32;
        self.request(
            RTM_NEWLINK,
            0,
            &ifinfo(index as i32, up, up, Attrs::default()),
        )
    }

    /// Turns on hairpin mode of a bridge port: a frame may leave by the port
    /// it came in. With br_netfilter (which Docker loads) a container
    /// reaching its own published port through a host address is DNATed at
    /// the bridge and sent back to the port it came from.
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let a = Attrs::default().nested(
            IFLA_PROTINFO,
            Attrs::default().bytes(IFLA_BRPORT_MODE, &[1]),
        );
        let msg = ifinfo_family(libc::AF_BRIDGE as u8, index as i32, 0, 0, a);
        self.request(RTM_SETLINK, 0, &msg)
    }

    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        self.request(
            RTM_DELLINK,
            0,
            &ifinfo(0, 0, 0, Attrs::default().str(IFLA_IFNAME, name)),
        )
    }

    /// Adds `ip/prefix`. IPv6 addresses skip duplicate address detection:
    /// berth hands them out, and DAD would keep them unusable (and the DNS
    /// server unable to bind) for a second or more.
    pub fn add_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let flags = if ip.is_ipv6() { IFA_F_NODAD } else { 0 };
        let mut body = vec![family(&ip), prefix, flags, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        let b = ip_bytes(&ip);
        let a = Attrs::default().bytes(IFA_LOCAL, &b).bytes(IFA_ADDRESS, &b);
        body.extend_from_slice(&a.buf);
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body)
    }

    pub fn add_default_route(&mut self, gateway: IpAddr, index: u32) -> io::Result<()> {
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
        let mut body = vec![
            family(&gateway),
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&0u32.to_ne_bytes());
        let a = Attrs::default()
            .bytes(RTA_GATEWAY, &ip_bytes(&gateway))
            .u32(RTA_OIF, index);
        body.extend_from_slice(&a.buf);
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &body)
    }
}

/// Index of interface `name` in the current network namespace.
pub fn index(name: &str) -> io::Result<u32> {
    let c =
        std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}"),
        ))
    } else {
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_aligned_and_nested() {
        let a = Attrs::default().str(IFLA_IFNAME, "br0").nested(
            IFLA_LINKINFO,
            Attrs::default().str(IFLA_INFO_KIND, "bridge"),
        );
        // "br0\0" = 4 + 4 header = 8; nested: 4 + ("bridge\0"=7 + 4 → 12) = 16
        assert_eq!(a.buf.len(), 8 + 16);
        assert_eq!(
            u16::from_ne_bytes([a.buf[10], a.buf[11]]),
            IFLA_LINKINFO | NLA_F_NESTED
        );
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac("zz"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:02:ff"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:zz"), None);
        assert_eq!(parse_mac("2:42:ac:11:00:02"), None);
        assert_eq!(parse_mac("01:00:5e:00:00:01"), None, "multicast");
    }
}
