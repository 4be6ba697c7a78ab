//! Which device nodes a container may use. The same rules are written as
//! `devices.allow` lines on cgroup v1 and compiled into a small eBPF program
//! (`BPF_PROG_TYPE_CGROUP_DEVICE`) on cgroup v2, which has no devices file:
//! without that program, a container with `CAP_MKNOD` could create and open a
//! node for the host's disk.
//!
//! Unlike Docker's default, `mknod` of arbitrary nodes (`c *:* m`) is not
//! allowed either: a container cannot create host device nodes at all.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
}

/// Access bits, as the kernel's `BPF_DEVCG_ACC_*`.
pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;
pub const RWM: u32 = MKNOD | READ | WRITE;

/// An allowed device (`None` = any major or minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

const fn c(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        kind: Kind::Char,
        major: Some(major),
        minor,
        access: RWM,
    }
}

/// Docker's default devices: null, zero, full, random, urandom, tty,
/// console, ptmx, the pts slaves and tun.
pub const DEFAULT: &[Rule] = &[
    c(1, Some(3)),
    c(1, Some(5)),
    c(1, Some(7)),
    c(1, Some(8)),
    c(1, Some(9)),
    c(5, Some(0)),
    c(5, Some(1)),
    c(5, Some(2)),
    c(136, None),
    c(10, Some(200)),
];

/// A `devices.allow` line (`c 1:3 rwm`, `c 136:* rwm`).
pub fn v1_line(r: &Rule) -> String {
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let mut acc = String::new();
    for (bit, ch) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
        if r.access & bit != 0 {
            acc.push(ch);
        }
    }
    let kind = match r.kind {
        Kind::Char => 'c',
        Kind::Block => 'b',
    };
    format!("{kind} {}:{} {acc}", num(r.major), num(r.minor))
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV32_X: u8 = 0xbc;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55; // if dst != imm: pc += off
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The program: 1 (allow) when the access matches a rule, else 0. The
/// context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32
/// minor; }` with the device type in the low 16 bits of `access_type` and
/// the access bits in the high 16.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = Vec::new();
        // Jumps to the next block are patched once the block's length is known.
        let mut jumps = Vec::new();
        let ty = match r.kind {
            Kind::Block => 1,
            Kind::Char => 2,
        };
        jumps.push(block.len());
        block.push(insn(JNE_K, 2, 0, 0, ty));
        if r.access & RWM != RWM {
            block.push(insn(MOV32_X, 1, 3, 0, 0));
            block.push(insn(AND32_K, 1, 0, 0, (!r.access & RWM) as i32));
            jumps.push(block.len());
            block.push(insn(JNE_K, 1, 0, 0, 0));
        }
        if let Some(m) = r.major {
            jumps.push(block.len());
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            jumps.push(block.len());
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i32> {
    // SAFETY: `attr` is a valid, zero-padded attribute struct of the size given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

/// Loads the program for `rules` and attaches it to the cgroup v2 directory
/// `dir`. The program stays attached until the cgroup is removed.
pub fn attach_v2(dir: &Path, rules: &[Rule]) -> Result<(), String> {
    let insns = program(rules);
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 4096];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let prog = bpf(BPF_PROG_LOAD, &mut load).map_err(|e| {
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        format!(
            "load the device filter: {e}: {}",
            String::from_utf8_lossy(&log[..end]).trim()
        )
    })?;
    // SAFETY: a new descriptor we own.
    let prog = unsafe { OwnedFd::from_raw_fd(prog) };
    let cg = std::fs::File::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut attach = ProgAttach {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attach)
        .map_err(|e| format!("attach the device filter to {}: {e}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` the way the kernel would, for the opcodes it uses.
    fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u32) -> u64 {
        let ty = match kind {
            Kind::Block => 1,
            Kind::Char => 2,
        };
        let ctx = [(access << 16) | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = ctx[i.off as usize / 4] as u64;
                }
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                MOV64_K => r[dst] = i.imm as i64 as u64,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_program_allows_exactly_the_rules() {
        let p = program(DEFAULT);
        let rw = READ | WRITE;
        assert_eq!(run(&p, Kind::Char, 1, 3, rw), 1, "/dev/null");
        assert_eq!(run(&p, Kind::Char, 1, 9, READ), 1, "/dev/urandom");
        assert_eq!(run(&p, Kind::Char, 136, 7, rw), 1, "a pts slave");
        assert_eq!(run(&p, Kind::Char, 1, 3, MKNOD), 1, "mknod of null");
        assert_eq!(run(&p, Kind::Block, 8, 0, READ), 0, "the host's disk");
        assert_eq!(run(&p, Kind::Block, 8, 0, MKNOD), 0, "not even mknod");
        assert_eq!(run(&p, Kind::Char, 1, 1, READ), 0, "/dev/mem");
        assert_eq!(run(&p, Kind::Block, 1, 3, READ), 0, "type matters");
        assert_eq!(run(&p, Kind::Char, 10, 237, rw), 0, "loop-control");
    }

    #[test]
    fn partial_access_and_wildcards() {
        let ro = [Rule {
            kind: Kind::Block,
            major: None,
            minor: None,
            access: READ,
        }];
        let p = program(&ro);
        assert_eq!(run(&p, Kind::Block, 8, 1, READ), 1);
        assert_eq!(run(&p, Kind::Block, 8, 1, READ | WRITE), 0);
        assert_eq!(run(&p, Kind::Block, 253, 0, MKNOD), 0);
        assert_eq!(run(&p, Kind::Char, 1, 3, READ), 0);
        assert_eq!(run(&program(&[]), Kind::Char, 1, 3, READ), 0);
    }

    #[test]
    fn v1_lines() {
        let lines: Vec<String> = DEFAULT.iter().map(v1_line).collect();
        assert_eq!(lines[0], "c 1:3 rwm");
        assert_eq!(lines[8], "c 136:* rwm");
        assert_eq!(
            v1_line(&Rule {
                kind: Kind::Block,
                major: None,
                minor: None,
                access: READ
            }),
            "b *:* r"
        );
    }
}
