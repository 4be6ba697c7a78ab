//! The two low-level tools of spawning: a fork-like `clone3` (optionally
//! born inside a cgroup v2 directory, which avoids the cost of migrating a
//! process between cgroups: one RCU grace period, ~10 ms, per move), and the
//! SEQPACKET channel on which the supervisor sends the child its plan and
//! descriptors and the child answers with an error or, by closing it on
//! exec, with success.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `fork()` with namespace flags: returns 0 in the child, its pid in the
/// parent. With `cgroup` (a cgroup v2 directory), the child starts in it.
///
/// # Safety
/// The caller must be single-threaded, and the child must only exec or
/// `_exit` (it runs on a copy of the caller's stack and heap).
pub unsafe fn fork_with(flags: CloneFlags, cgroup: Option<RawFd>) -> Result<i32, Errno> {
    let mut args = CloneArgs {
        flags: flags.bits() as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: a fork-like clone3 (no new stack, no shared memory).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r >= 0 {
        return Ok(r as i32);
    }
    let e = Errno::last();
    if e != Errno::ENOSYS || cgroup.is_some() {
        return Err(e);
    }
    // Kernels before 5.3: the classic clone, fork-like with a NULL stack.
    // SAFETY: as above.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}

/// A connected pair of close-on-exec SEQPACKET sockets.
pub fn pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Sends one message with descriptors.
pub fn send(sock: &OwnedFd, data: &[u8], fds: &[RawFd]) -> Result<(), Errno> {
    let iov = [std::io::IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).map(|_| ())
}

/// The largest message (a container's plan) accepted.
pub const MAX_MESSAGE: usize = 1 << 20;

/// Receives one message and its descriptors (close-on-exec). An empty
/// message means the peer closed the channel.
pub fn recv(sock: &OwnedFd) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = nix::cmsg_space!([RawFd; 8]);
    let (len, fds) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("receive: {e}"))?;
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(format!("message larger than {MAX_MESSAGE} bytes"));
        }
        let mut fds = Vec::new();
        for c in msg.cmsgs().map_err(|e| format!("receive: {e}"))? {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: descriptors just received, owned by nobody else.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        (msg.bytes, fds)
    };
    buf.truncate(len);
    Ok((buf, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_descriptors() {
        let (a, b) = pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        send(&a, b"plan", &[f.as_raw_fd()]).unwrap();
        let (data, fds) = recv(&b).unwrap();
        assert_eq!(data, b"plan");
        assert_eq!(fds.len(), 1);
        // SAFETY: fcntl on a descriptor we own.
        let flags = unsafe { libc::fcntl(fds[0].as_raw_fd(), libc::F_GETFD) };
        assert!(
            flags & libc::FD_CLOEXEC != 0,
            "received descriptors are cloexec"
        );
        drop(a);
        let (data, fds) = recv(&b).unwrap();
        assert!(
            data.is_empty() && fds.is_empty(),
            "EOF once the peer is gone"
        );
    }
}
