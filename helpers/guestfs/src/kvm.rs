//! Can this host run a KVM guest?  `/dev/kvm` may exist and open, VM
//! creation succeed, even a one-instruction guest run, and yet a real
//! kernel hang in its first second (nested KVM on some clouds: the kernel
//! stops right after its real-mode setup).  So [`probe`] does two bounded
//! checks:
//!
//! 1. [`probe_hlt`]: a one-instruction guest (`hlt`) in a forked child,
//!    which must see `KVM_EXIT_HLT` in time (cheap; catches a dead
//!    `/dev/kvm` or a `KVM_RUN` that never returns);
//! 2. [`probe_kernel`]: `qemu-system-x86_64 -accel kvm -kernel K` with the
//!    libguestfs appliance's (or the host's) kernel, which must print
//!    `Linux version` on its serial console within the time limit.
//!
//! Anything else means: use TCG.

use std::time::{Duration, Instant};

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
const KVM_GET_VCPU_MMAP_SIZE: libc::c_ulong = 0xAE04;
const KVM_CREATE_VCPU: libc::c_ulong = 0xAE41;
/// `_IOW(0xAE, 0x46, struct kvm_userspace_memory_region)` (32 bytes).
const KVM_SET_USER_MEMORY_REGION: libc::c_ulong = 0x4020_AE46;
const KVM_RUN: libc::c_ulong = 0xAE80;
const KVM_EXIT_HLT: u32 = 5;

#[repr(C)]
struct KvmUserspaceMemoryRegion {
    slot: u32,
    flags: u32,
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
}

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

/// Run in the forked child: async-signal-safe calls only (no allocation).
fn child() -> i32 {
    // SAFETY: raw syscalls on descriptors and memory this child owns.
    unsafe {
        let kvm = libc::open(c"/dev/kvm".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if kvm < 0 {
            return 10;
        }
        if libc::ioctl(kvm, KVM_GET_API_VERSION, 0) != 12 {
            return 11;
        }
        let vm = libc::ioctl(kvm, KVM_CREATE_VM, 0);
        if vm < 0 {
            return 12;
        }
        // One page at the reset vector's page: a vCPU starts in real mode
        // at 0xFFFFFFF0; put `hlt` (0xF4) there.
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            return 13;
        }
        let bytes = page as *mut u8;
        for i in 0..4096 {
            *bytes.add(i) = 0xF4;
        }
        let region = KvmUserspaceMemoryRegion {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0xFFFF_F000,
            memory_size: 4096,
            userspace_addr: page as u64,
        };
        if libc::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 {
            return 14;
        }
        let vcpu = libc::ioctl(vm, KVM_CREATE_VCPU, 0);
        if vcpu < 0 {
            return 15;
        }
        let size = libc::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if size <= 0 {
            return 16;
        }
        let run = libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            vcpu,
            0,
        );
        if run == libc::MAP_FAILED {
            return 16;
        }
        if libc::ioctl(vcpu, KVM_RUN, 0) < 0 {
            return 17;
        }
        // struct kvm_run: u8 request_interrupt_window, u8 immediate_exit,
        // u8 padding[6], u32 exit_reason.
        let reason = *((run as *const u8).add(8) as *const u32);
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
    // SAFETY: geteuid never fails.
    let uid = unsafe { libc::geteuid() };
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
pub fn find_kernel() -> Option<std::path::PathBuf> {
    // SAFETY: getuid never fails.
    let uid = unsafe { libc::geteuid() };
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
pub fn probe_kernel(kernel: &std::path::Path, timeout: Duration) -> Result<(), String> {
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
pub fn probe_hlt(timeout: Duration) -> Result<(), String> {
    if !std::path::Path::new("/dev/kvm").exists() {
        return Err("/dev/kvm does not exist".into());
    }
    // SAFETY: access() on a constant path.
    if unsafe { libc::access(c"/dev/kvm".as_ptr(), libc::R_OK | libc::W_OK) } != 0 {
        return Err("/dev/kvm is not accessible to this user".into());
    }
    // SAFETY: the child only makes raw syscalls and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = child();
        // SAFETY: leave the child without running Rust destructors/atexit.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
        if start.elapsed() > timeout {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                // Bounded reap: a child stuck in the kernel may take a moment.
                for _ in 0..100 {
                    if libc::waitpid(pid, &mut status, libc::WNOHANG) != 0 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            return Err(format!(
                "a test KVM guest did not run within {:.0}s (KVM_RUN hangs)",
                timeout.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            c => Err(format!("KVM probe failed at {}", child_stage_name(c))),
        }
    } else {
        Err("KVM probe child was killed by a signal".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
