//! Can this host run a KVM guest?  `/dev/kvm` may exist and open, VM
//! creation succeed, even a one-instruction guest run, and yet a real
//! kernel hang in its first second (nested KVM on some clouds: the kernel
//! stops right after its real-mode setup).  So [`probe`] does two bounded
//! checks:
//!
//! 1. `probe_hlt`: a one-instruction guest (`hlt`) in a forked child,
//!    which must see `KVM_EXIT_HLT` in time (cheap; catches a dead
//!    `/dev/kvm` or a `KVM_RUN` that never returns);
//! 2. `probe_kernel`: `qemu-system-x86_64 -accel kvm -kernel K` with the
//!    libguestfs appliance's (or the host's) kernel, which must print
//!    `Linux version` on its serial console within the time limit.
//!
//! Anything else means: use TCG.

use nix::fcntl::{open, OFlag};
use nix::sys::mman::{mmap, mmap_anonymous, MapFlags, ProtFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{access, fork, geteuid, AccessFlags, ForkResult};
use std::num::NonZeroUsize;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// What `KVM_GET_API_VERSION` answers (stable since Linux 2.6.22).
const KVM_API_VERSION: i32 = 12;
const KVM_EXIT_HLT: u32 = 5;

/// The KVM ioctls the probe makes (`linux/kvm.h`).
mod ioctl {
    /// The ioctl type of `/dev/kvm` and its descriptors.
    const KVMIO: u8 = 0xAE;

    #[repr(C)]
    pub struct KvmUserspaceMemoryRegion {
        pub slot: u32,
        pub flags: u32,
        pub guest_phys_addr: u64,
        pub memory_size: u64,
        pub userspace_addr: u64,
    }

    // `_IO(KVMIO, nr)` ioctls take an int by value: the machine type or
    // vCPU id, else 0 (the kernel refuses anything else).
    nix::ioctl_write_int_bad!(kvm_get_api_version, nix::request_code_none!(KVMIO, 0x00));
    nix::ioctl_write_int_bad!(kvm_create_vm, nix::request_code_none!(KVMIO, 0x01));
    nix::ioctl_write_int_bad!(kvm_get_vcpu_mmap_size, nix::request_code_none!(KVMIO, 0x04));
    nix::ioctl_write_int_bad!(kvm_create_vcpu, nix::request_code_none!(KVMIO, 0x41));
    nix::ioctl_write_int_bad!(kvm_run, nix::request_code_none!(KVMIO, 0x80));
    // `_IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)`.
    nix::ioctl_write_ptr!(
        kvm_set_user_memory_region,
        KVMIO,
        0x46,
        KvmUserspaceMemoryRegion
    );
}
use ioctl::*;

/// Child exit codes (for the log).
fn child_stage_name(code: i32) -> &'static str {
    match code {
        10 => "open /dev/kvm",
        11 => "KVM_GET_API_VERSION",
        12 => "KVM_CREATE_VM",
        13 => "guest memory",
        14 => "KVM_SET_USER_MEMORY_REGION",
        15 => "KVM_CREATE_VCPU",
        16 => "mmap kvm_run",
        17 => "KVM_RUN",
        18 => "unexpected exit reason (not HLT)",
        _ => "unknown",
    }
}

/// Run in the forked child: async-signal-safe calls only (nix's thin
/// syscall wrappers; no allocation).  Returns the exit code.
fn child() -> i32 {
    const PAGE: NonZeroUsize = match NonZeroUsize::new(4096) {
        Some(n) => n,
        None => unreachable!(),
    };
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let Ok(kvm) = open(c"/dev/kvm", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) else {
        return 10;
    };
    // SAFETY: ioctls and mappings on descriptors and memory this child
    // owns, each with the argument the kernel expects.
    unsafe {
        if kvm_get_api_version(kvm, 0) != Ok(KVM_API_VERSION) {
            return 11;
        }
        let Ok(vm) = kvm_create_vm(kvm, 0) else {
            return 12;
        };
        // One page at the reset vector's page: a vCPU starts in real mode
        // at 0xFFFFFFF0; put `hlt` (0xF4) there.
        let Ok(page) = mmap_anonymous(None, PAGE, rw, MapFlags::MAP_PRIVATE) else {
            return 13;
        };
        std::ptr::write_bytes(page.as_ptr() as *mut u8, 0xF4, PAGE.get());
        let region = KvmUserspaceMemoryRegion {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0xFFFF_F000,
            memory_size: PAGE.get() as u64,
            userspace_addr: page.as_ptr() as u64,
        };
        if kvm_set_user_memory_region(vm, &region).is_err() {
            return 14;
        }
        let Ok(vcpu) = kvm_create_vcpu(vm, 0) else {
            return 15;
        };
        let Some(size) = kvm_get_vcpu_mmap_size(kvm, 0)
            .ok()
            .and_then(|n| NonZeroUsize::new(usize::try_from(n).ok()?))
        else {
            return 16;
        };
        let vcpu_fd = BorrowedFd::borrow_raw(vcpu);
        let Ok(run) = mmap(None, size, rw, MapFlags::MAP_SHARED, vcpu_fd, 0) else {
            return 16;
        };
        if kvm_run(vcpu, 0).is_err() {
            return 17;
        }
        // struct kvm_run: u8 request_interrupt_window, u8 immediate_exit,
        // u8 padding[6], u32 exit_reason.
        let reason = *(run.as_ptr() as *const u8).add(8).cast::<u32>();
        if reason == KVM_EXIT_HLT {
            0
        } else {
            18
        }
    }
}

/// Probe KVM with bounded waits (see the module doc).  `Ok(())`: KVM
/// works.  `Err(why)`: use TCG, because `why`.
pub fn probe(timeout: Duration) -> Result<(), String> {
    probe_hlt(timeout)?;
    match find_kernel() {
        Some(k) => probe_kernel(&k, timeout),
        // No kernel to boot: the hlt probe is all we can check.
        None => Ok(()),
    }
}

/// [`probe`], remembered for the rest of this host's boot (keyed by
/// `/proc/sys/kernel/random/boot_id`) in `$TMPDIR/v2v-kvm-probe-<uid>`, so
/// a second conversion does not wait again.  Returns the answer and
/// whether it came from the cache.
pub fn probe_cached(timeout: Duration) -> (Result<(), String>, bool) {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let uid = geteuid();
    let cache = std::env::temp_dir().join(format!("v2v-kvm-probe-{uid}"));
    if !boot_id.is_empty() {
        if let Ok(text) = std::fs::read_to_string(&cache) {
            let mut lines = text.lines();
            if lines.next() == Some(boot_id.as_str()) {
                match (lines.next(), lines.next()) {
                    (Some("kvm"), _) => return (Ok(()), true),
                    (Some("tcg"), why) => return (Err(why.unwrap_or("").to_string()), true),
                    _ => {}
                }
            }
        }
    }
    let r = probe(timeout);
    if !boot_id.is_empty() {
        let body = match &r {
            Ok(()) => format!("{boot_id}\nkvm\n"),
            Err(why) => format!("{boot_id}\ntcg\n{why}\n"),
        };
        let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, &cache);
        }
    }
    (r, false)
}

/// A kernel to boot for [`probe_kernel`]: libguestfs's cached appliance
/// kernel, else the newest readable `/boot/vmlinuz-*`.
fn find_kernel() -> Option<std::path::PathBuf> {
    let uid = geteuid();
    let tmp = std::env::var("LIBGUESTFS_CACHEDIR")
        .or_else(|_| std::env::var("TMPDIR"))
        .unwrap_or_else(|_| "/var/tmp".into());
    let appliance = std::path::Path::new(&tmp)
        .join(format!(".guestfs-{uid}"))
        .join("appliance.d/kernel");
    if std::fs::File::open(&appliance).is_ok() {
        return Some(appliance);
    }
    let mut ks: Vec<std::path::PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
                && std::fs::File::open(p).is_ok()
        })
        .collect();
    ks.sort();
    ks.pop()
}

/// Boot `kernel` under `qemu-system-x86_64 -accel kvm` and wait (at most
/// `timeout`) for `Linux version` on its serial console.
fn probe_kernel(kernel: &std::path::Path, timeout: Duration) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("v2v-kvm-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let serial = dir.join("serial.log");
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    let spawned = std::process::Command::new(&qemu)
        .args(["-accel", "kvm", "-M", "pc", "-m", "128", "-nodefaults"])
        .args(["-display", "none", "-no-reboot", "-serial"])
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1 quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("{qemu}: cannot run: {e}"));
        }
    };
    let start = Instant::now();
    let result = loop {
        let seen = std::fs::read(&serial)
            .map(|b| b.windows(13).any(|w| w == b"Linux version"))
            .unwrap_or(false);
        if seen {
            break Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            break Err(format!("{qemu} -accel kvm exited early ({st})"));
        }
        if start.elapsed() > timeout {
            break Err(format!(
                "a test kernel under KVM printed nothing within {:.0}s (KVM hangs)",
                timeout.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Run a `hlt` guest through raw KVM ioctls in a forked child, waiting at
/// most `timeout`.
fn probe_hlt(timeout: Duration) -> Result<(), String> {
    if !std::path::Path::new("/dev/kvm").exists() {
        return Err("/dev/kvm does not exist".into());
    }
    if access(c"/dev/kvm", AccessFlags::R_OK | AccessFlags::W_OK).is_err() {
        return Err("/dev/kvm is not accessible to this user".into());
    }
    // SAFETY: the child only makes raw syscalls and _exits.
    let pid = match unsafe { fork() } {
        Err(e) => return Err(format!("fork: {e}")),
        Ok(ForkResult::Child) => {
            let code = child();
            // SAFETY: leave the child without running Rust destructors or
            // atexit handlers (nix has no _exit).
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    let start = Instant::now();
    let status = loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => break status,
            Err(e) => return Err(format!("waitpid: {e}")),
        }
        if start.elapsed() > timeout {
            let _ = kill(pid, Signal::SIGKILL);
            // Bounded reap: a child stuck in the kernel may take a moment.
            for _ in 0..100 {
                if !matches!(
                    waitpid(pid, Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::StillAlive)
                ) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Err(format!(
                "a test KVM guest did not run within {:.0}s (KVM_RUN hangs)",
                timeout.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    match status {
        WaitStatus::Exited(_, 0) => Ok(()),
        WaitStatus::Exited(_, c) => Err(format!("KVM probe failed at {}", child_stage_name(c))),
        _ => Err("KVM probe child was killed by a signal".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_are_linux_kvm_h() {
        // The numbers `linux/kvm.h` defines; the struct must be 32 bytes.
        let size = std::mem::size_of::<KvmUserspaceMemoryRegion>();
        assert_eq!(nix::request_code_write!(0xAE, 0x46, size), 0x4020_AE46);
        assert_eq!(nix::request_code_none!(0xAE, 0x80), 0xAE80);
    }

    #[test]
    fn probe_is_bounded() {
        let t = Instant::now();
        let r = probe(Duration::from_secs(3));
        eprintln!("kvm probe: {r:?}");
        // Either answer is fine; it must come quickly.
        assert!(t.elapsed() < Duration::from_secs(12), "{r:?}");
        if let Err(why) = r {
            assert!(!why.is_empty());
        }
    }
}
