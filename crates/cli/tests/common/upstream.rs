//! A fake upstream name server on the fake host's 127.0.0.53 (a stub
//! resolver's address: only the host reaches it, so a container resolves
//! through berth's DNS or not at all). One name has an A record, everything
//! else is NXDOMAIN. Stopped on drop.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Env;

pub struct Upstream {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A resolv.conf naming it, for `BERTH_HOST_RESOLV_CONF`.
    pub conf: PathBuf,
}

impl Upstream {
    /// Answers `name` with `addr`; `resolv_extra` is appended to the
    /// resolv.conf (e.g. a `search` line).
    pub fn start(env: &Env, name: &str, addr: Ipv4Addr, resolv_extra: &str) -> Upstream {
        let sock = env
            .netns
            .as_ref()
            .expect("an Env with a network")
            .run(|| UdpSocket::bind("127.0.0.53:53").unwrap());
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let conf = env.root.path().join("upstream-resolv.conf");
        std::fs::write(&conf, format!("nameserver 127.0.0.53\n{resolv_extra}")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, name) = (stop.clone(), name.to_ascii_lowercase());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && let Some(r) = reply(&buf[..n], &name, addr)
                {
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        Upstream {
            stop,
            thread: Some(thread),
            conf,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query (RFC 1035 by hand, independent of berth's code):
/// the header and question echoed, one A record for `name`.
fn reply(q: &[u8], name: &str, addr: Ipv4Addr) -> Option<Vec<u8>> {
    let mut labels = Vec::new();
    let mut i = 12;
    while *q.get(i)? != 0 {
        let len = usize::from(q[i]);
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let mut r = q.get(..i + 5)?.to_vec();
    let hit = labels.join(".") == name;
    r[2] = 0x80 | (q[2] & 0x01); // a response; recursion desired as asked
    r[3] = if hit { 0x80 } else { 0x83 }; // recursion available; NXDOMAIN
    r[6..12].fill(0);
    if hit && qtype == 1 {
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&addr.octets());
    }
    Some(r)
}
