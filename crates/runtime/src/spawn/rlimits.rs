//! Compose `ulimits` → setrlimit in the container's first process (before
//! capabilities are dropped: raising a hard limit needs CAP_SYS_RESOURCE).

use crate::config::Ulimit;

pub(crate) fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        "as" => libc::RLIMIT_AS,
        _ => return None,
    })
}

pub fn apply(limits: &[Ulimit]) -> Result<(), String> {
    for u in limits {
        let r = resource(&u.name).ok_or_else(|| format!("unknown ulimit {:?}", u.name))?;
        let lim = libc::rlimit {
            rlim_cur: u.soft,
            rlim_max: u.hard.max(u.soft),
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(r, &lim) } != 0 {
            return Err(format!(
                "ulimit {}={}:{}: {}",
                u.name,
                u.soft,
                u.hard,
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert!(super::resource("nofile").is_some());
        assert!(super::resource("bogus").is_none());
    }
}
