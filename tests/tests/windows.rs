//! Windows guests (issue 15), on the phony Windows disks the project builds
//! (scripts/make-windows-guest.sh: NTFS C: with generated registry hives,
//! a fake virtio-win tree with decoys, a fake service wrapper).  Each guest
//! is converted once with `virt-v2v ... -o local`; the converted disk is
//! read back on the host without an appliance (sfdisk, ntfscat, ntfsls,
//! mtools, hivexregedit) and compared with a golden export of the
//! registry keys conversion writes (`tests/tests/windows/NAME.expected`;
//! `V2V_BLESS=1` rewrites them).  What only a real Windows boot could
//! show is not tested here (docs/helpers/helper-v2v-convert.md).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use v2v_tests::*;

/// A converted Windows disk, read on the host.
struct Disk {
    /// C: copied out of the disk.
    ntfs: PathBuf,
    /// The disk and the ESP's byte offset, for mtools (`DISK@@OFFSET`).
    esp: Option<String>,
}

impl Disk {
    fn open(disk: &Path, work: &Path) -> Disk {
        for t in ["ntfscat", "ntfsls", "mtype"] {
            require_tool(t);
        }
        let r = run(Command::new("sfdisk").arg("--json").arg(disk));
        r.assert_ok();
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let parts = j["partitiontable"]["partitions"]
            .as_array()
            .unwrap()
            .clone();
        let find = |types: &[&str]| {
            parts
                .iter()
                .find(|p| {
                    let t = p["type"].as_str().unwrap_or("").to_ascii_uppercase();
                    types.contains(&t.as_str())
                })
                .map(|p| (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        };
        let (start, size) = find(&["7", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"])
            .unwrap_or_else(|| panic!("no NTFS partition in {}: {parts:?}", disk.display()));
        let ntfs = work.join("c.ntfs");
        run(Command::new("dd")
            .arg(format!("if={}", disk.display()))
            .arg(format!("of={}", ntfs.display()))
            .args(["bs=512", "conv=sparse", "status=none"])
            .arg(format!("skip={start}"))
            .arg(format!("count={size}")))
        .assert_ok();
        let esp = find(&["C12A7328-F81F-11D2-BA4B-00A0C93EC93B"])
            .map(|(s, _)| format!("{}@@{}", disk.display(), s * 512));
        Disk { ntfs, esp }
    }
    /// A file of C: (`None` when it does not exist).
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let o = Command::new("ntfscat")
            .arg(&self.ntfs)
            .arg(path)
            .output()
            .unwrap();
        o.status.success().then_some(o.stdout)
    }
    /// The names in a directory of C:.
    fn ls(&self, dir: &str) -> Vec<String> {
        let r = run(Command::new("ntfsls").arg(&self.ntfs).args(["-p", dir]));
        r.assert_ok();
        let mut v: Vec<String> = r.stdout.lines().map(|l| l.trim().to_string()).collect();
        v.retain(|l| !l.is_empty() && l != "." && l != "..");
        v.sort();
        v
    }
    /// A hive of C: saved to `work`.
    fn hive(&self, path: &str, work: &Path) -> PathBuf {
        let data = self.read(path).unwrap_or_else(|| panic!("{path} missing"));
        let f = work.join(path.rsplit('/').next().unwrap());
        std::fs::write(&f, data).unwrap();
        f
    }
    /// A file of the ESP.
    fn esp_read(&self, path: &str) -> Vec<u8> {
        let img = self.esp.as_ref().expect("an ESP");
        let o = Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", img, &format!("::{path}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "mtype {path}: {o:?}");
        o.stdout
    }
}

/// `hivexregedit --export HIVE KEY` (strings as text), or `None` when the
/// key does not exist.
fn export(hive: &Path, key: &str) -> Option<String> {
    let o = Command::new("hivexregedit")
        .args(["--export", "--unsafe-printable-strings"])
        .arg(hive)
        .arg(key)
        .output()
        .unwrap();
    o.status.success().then(|| {
        String::from_utf8_lossy(&o.stdout).replace("Windows Registry Editor Version 5.00\n", "")
    })
}

/// Compare with the golden file (`V2V_BLESS=1` rewrites it).
fn golden(name: &str, actual: &str) {
    let p = repo_root().join(format!("tests/tests/windows/{name}.expected"));
    if std::env::var_os("V2V_BLESS").is_some() {
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (V2V_BLESS=1 writes it)", p.display()));
    if want != actual {
        let got = p.with_extension("actual");
        std::fs::write(&got, actual).unwrap();
        panic!(
            "the registry differs from {}: see diff -u {} {}",
            p.display(),
            p.display(),
            got.display()
        );
    }
}

fn metadata_out(d: &Done) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(d.dir.join("metadata.out")).unwrap()).unwrap()
}

/// Convert guest `name` with the fake virtio-win and wrapper; `input` is
/// `disk` or `ova`.
fn convert(
    sb: &Sandbox,
    fx: &Path,
    name: &str,
    input: &str,
    virtio_win: &Path,
    extra: &[&str],
) -> Done {
    let src = fx.join(format!(
        "{name}.{}",
        if input == "ova" { "ova" } else { "raw" }
    ));
    let mut c = sb.virt_v2v();
    c.env("VIRTIO_WIN", virtio_win)
        .env("VIRT_TOOLS_DATA_DIR", fx.join("virt-tools"));
    let mut args = extra.to_vec();
    args.extend(["-i", input, src.to_str().unwrap()]);
    run_local(sb, c, &args, &sb.path("out"))
}

/// The registry keys conversion writes, exported as text.
fn registry_text(disk: &Disk, work: &Path, cdb: bool) -> String {
    let system = disk.hive("/Windows/System32/config/SYSTEM", work);
    let software = disk.hive("/Windows/System32/config/SOFTWARE", work);
    let mut keys = vec![
        (&system, "\\ControlSet001\\Services\\viostor"),
        (&system, "\\ControlSet001\\Services\\firstboot"),
        (&system, "\\ControlSet001\\Control\\CrashControl"),
    ];
    if cdb {
        keys.push((&system, "\\ControlSet001\\Control\\CriticalDeviceDatabase"));
    } else {
        keys.push((&system, "\\DriverDatabase"));
    }
    keys.push((&software, "\\Microsoft\\Windows\\CurrentVersion"));
    let mut s = String::new();
    for (h, k) in keys {
        let hive = h.file_name().unwrap().to_string_lossy();
        s.push_str(&format!("; {hive} {k}\n"));
        s.push_str(&export(h, k).unwrap_or_else(|| panic!("{hive} {k} missing")));
    }
    s
}

/// What every converted guest with virtio-win shows: drivers (and no
/// decoy), the first-boot tree with CRLF scripts, virtio in metadata.out
/// and in the XML.
fn check_converted(name: &str, d: &Done, disk: &Disk, osdir: &str, static_ip: bool) {
    let m = metadata_out(d);
    assert_eq!(m["converted"], true, "{m:#}");
    assert_eq!(m["inspection"]["os_type"], "windows", "{m:#}");
    assert_eq!(m["target"]["block_bus"], "virtio-blk", "{m:#}");
    assert_eq!(m["target"]["net_model"], "virtio", "{m:#}");
    assert_eq!(m["target"]["machine"], "q35", "{m:#}");
    let kinds: Vec<&str> = m["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    for k in ["registry", "file", "firstboot", "service"] {
        assert!(kinds.contains(&k), "no {k} change listed: {m:#}");
    }
    let xml = std::fs::read_to_string(d.out.join(format!("{name}.xml"))).unwrap();
    assert!(xml.contains("bus='virtio'"), "disk not on virtio:\n{xml}");
    assert!(
        xml.contains("<model type='virtio'/>"),
        "NIC not virtio:\n{xml}"
    );

    // Drivers: this OS and arch only, no debug symbols, no SR-IOV files.
    let drivers = disk.ls("/Windows/Drivers/VirtIO");
    for f in [
        "viostor.sys",
        "viostor.inf",
        "viostor.cat",
        "netkvm.sys",
        "netkvm.inf",
        "balloon.inf",
        "viorng.inf",
        "blnsvr.exe",
    ] {
        assert!(
            drivers.contains(&f.to_string()),
            "{f} not copied: {drivers:?}"
        );
    }
    for f in &drivers {
        assert!(
            !f.ends_with(".pdb") && f != "vioprot.inf" && f != "vfnet.inf",
            "decoy {f} copied"
        );
    }
    let sys = disk.read("/Windows/Drivers/VirtIO/viostor.sys").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sys),
        format!("phony viostor.sys for {osdir}/amd64\n")
    );
    assert_eq!(
        disk.read("/Windows/System32/drivers/viostor.sys"),
        Some(sys)
    );

    // First boot.
    let fb = "/Program Files/Guestfs/Firstboot";
    let top = disk.ls(fb);
    for f in ["firstboot.bat", "rhsrvany.exe", "scripts", "Temp"] {
        assert!(top.contains(&f.to_string()), "{fb}/{f} missing: {top:?}");
    }
    assert!(disk
        .read(&format!("{fb}/rhsrvany.exe"))
        .unwrap()
        .starts_with(b"MZ"));
    let scripts = disk.ls(&format!("{fb}/scripts"));
    let want: &[&str] = if static_ip {
        &[
            "2000-0001-pnputil-install-drivers.bat",
            "2500-0002-static-ip.bat",
            "5000-0003-install-qemu-ga.bat",
            "5000-0004-install-blnsvr.bat",
            "5000-0005-uninstall-VMware-Tools.bat",
        ]
    } else {
        &[
            "2000-0001-pnputil-install-drivers.bat",
            "5000-0002-install-qemu-ga.bat",
            "5000-0003-install-blnsvr.bat",
            "5000-0004-uninstall-VMware-Tools.bat",
        ]
    };
    assert_eq!(scripts, want);
    let mut texts = vec![disk.read(&format!("{fb}/firstboot.bat")).unwrap()];
    for s in &scripts {
        texts.push(disk.read(&format!("{fb}/scripts/{s}")).unwrap());
    }
    for t in &texts {
        let t = String::from_utf8_lossy(t);
        assert!(
            t.ends_with("\r\n") && !t.replace("\r\n", "").contains('\n'),
            "not CRLF: {t:?}"
        );
    }
    let uninstall = String::from_utf8_lossy(texts.last().unwrap());
    assert!(
        uninstall
            .contains("MsiExec.exe /x{C2F8A1D7-3B5E-4F0A-9C2E-5D6B7A8F9E01} /quiet /norestart"),
        "{uninstall}"
    );
    assert!(String::from_utf8_lossy(&texts[1]).contains("PnPutil -i -a"));
    let mut temp = vec!["install-qemu-ga.ps1", "qemu-ga-x86_64.msi"];
    if static_ip {
        temp.push("v2v-static-ip.ps1");
        let ps = disk.read(&format!("{fb}/Temp/v2v-static-ip.ps1")).unwrap();
        let ps = String::from_utf8_lossy(&ps);
        assert!(
            ps.contains("MacAddress -eq \"00-0C-29-AB-CD-EF\"")
                && ps.contains(
                    "-IPAddress \"192.168.50.7\" -PrefixLength 24 -DefaultGateway \"192.168.50.1\""
                )
                && ps.contains("-ServerAddresses (\"192.168.50.53\")"),
            "{ps}"
        );
        assert!(String::from_utf8_lossy(&texts[2]).contains("v2v-static-ip.ps1"));
    }
    assert_eq!(disk.ls(&format!("{fb}/Temp")), temp);
}

#[test]
fn windows_server_2022_bios_gets_virtio_drivers_and_first_boot() {
    let fx = windows_guest("win2k22");
    let sb = Sandbox::new("win2k22");
    // --mac MAC:ip:: a first-boot script sets the address once netkvm is up.
    let d = convert(
        &sb,
        &fx,
        "win2k22",
        "disk",
        &fx.join("virtio-win"),
        &[
            "--mac",
            "00:0c:29:ab:cd:ef:ip:192.168.50.7,192.168.50.1,24,192.168.50.53",
        ],
    );
    let disk = Disk::open(&d.out.join("win2k22-sda"), sb.root());
    check_converted("win2k22", &d, &disk, "2k22", true);
    let m = metadata_out(&d);
    assert_eq!(m["inspection"]["osinfo"], "win2k22", "{m:#}");
    assert_eq!(
        m["inspection"]["product_name"],
        "Windows Server 2022 Standard"
    );
    assert_eq!(
        (
            m["inspection"]["major_version"].as_i64(),
            m["inspection"]["minor_version"].as_i64()
        ),
        (Some(10), Some(0))
    );
    assert_eq!(m["inspection"]["arch"], "x86_64");
    assert_eq!(m["inspection"]["hostname"], "phony-2k22");
    assert_eq!(
        m["inspection"]["windows"],
        serde_json::json!({"product_variant": "Server", "build": "20348",
            "systemroot": "/Windows", "current_control_set": "ControlSet001"}),
        "{m:#}"
    );
    assert_eq!(m["target"]["firmware"], "bios", "{m:#}");
    assert_eq!(m["target"]["rtc_utc"], false, "{m:#}");
    let xml = std::fs::read_to_string(d.out.join("win2k22.xml")).unwrap();
    assert!(xml.contains("<clock offset='localtime'/>"), "{xml}");
    golden("win2k22", &registry_text(&disk, sb.root(), false));
}

#[test]
fn windows_10_uefi_through_ova_gets_its_boot_manager_fixed() {
    let fx = windows_guest("win10-uefi");
    let sb = Sandbox::new("win10");
    let d = convert(&sb, &fx, "win10-uefi", "ova", &fx.join("virtio-win"), &[]);
    let disk = Disk::open(&d.out.join("win10-uefi-sda"), sb.root());
    check_converted("win10-uefi", &d, &disk, "w10", false);
    let m = metadata_out(&d);
    assert_eq!(m["inspection"]["osinfo"], "win10", "{m:#}");
    assert_eq!(m["target"]["firmware"], "uefi", "{m:#}");
    // The registry says the RTC is in UTC.
    assert_eq!(m["target"]["rtc_utc"], true, "{m:#}");
    // The ESP: the fallback loader is the Windows boot manager; the BCD
    // default entry lost graphicsmodedisabled.
    assert_eq!(
        disk.esp_read("/EFI/Boot/bootx64.efi"),
        disk.esp_read("/EFI/Microsoft/Boot/bootmgfw.efi")
    );
    let bcd = sb.path("BCD");
    std::fs::write(&bcd, disk.esp_read("/EFI/Microsoft/Boot/BCD")).unwrap();
    let mut text = registry_text(&disk, sb.root(), false);
    text.push_str("; BCD \\Objects\n");
    text.push_str(&export(&bcd, "\\Objects").expect("BCD Objects"));
    golden("win10-uefi", &text);
}

/// Also: virtio-win as an ISO (read through a second appliance).
#[test]
fn windows_7_binds_the_boot_driver_through_the_critical_device_database() {
    let fx = windows_guest("win7");
    let sb = Sandbox::new("win7");
    let d = convert(&sb, &fx, "win7", "disk", &fx.join("virtio-win.iso"), &[]);
    let disk = Disk::open(&d.out.join("win7-sda"), sb.root());
    check_converted("win7", &d, &disk, "w7", false);
    let m = metadata_out(&d);
    assert_eq!(m["inspection"]["osinfo"], "win7", "{m:#}");
    let system = disk.hive("/Windows/System32/config/SYSTEM", sb.root());
    assert_eq!(
        export(&system, "\\DriverDatabase"),
        None,
        "Windows 7 has no DriverDatabase"
    );
    golden("win7", &registry_text(&disk, sb.root(), true));
}

#[test]
fn windows_without_virtio_win_gets_emulated_devices() {
    let fx = windows_guest("win2k22");
    let sb = Sandbox::new("win-novirtio");
    let none = sb.path("no-virtio-win");
    let d = convert(&sb, &fx, "win2k22", "disk", &none, &[]);
    let m = metadata_out(&d);
    assert_eq!(m["converted"], true, "{m:#}");
    assert_eq!(m["target"]["block_bus"], "sata", "{m:#}");
    assert_eq!(m["target"]["net_model"], "rtl8139", "{m:#}");
    let w = m["warnings"].to_string();
    assert!(w.contains("no virtio drivers available"), "{m:#}");
    assert!(
        d.run.stderr.contains("no virtio drivers available"),
        "{}",
        d.run
    );
    let xml = std::fs::read_to_string(d.out.join("win2k22.xml")).unwrap();
    assert!(
        xml.contains("bus='sata'") && !xml.contains("bus='virtio'"),
        "{xml}"
    );
    assert!(xml.contains("<model type='rtl8139'/>"), "{xml}");
    let disk = Disk::open(&d.out.join("win2k22-sda"), sb.root());
    let system = disk.hive("/Windows/System32/config/SYSTEM", sb.root());
    assert_eq!(export(&system, "\\ControlSet001\\Services\\viostor"), None);
    assert!(export(&system, "\\ControlSet001\\Services\\firstboot").is_some());
    assert_eq!(disk.read("/Windows/System32/drivers/viostor.sys"), None);
}

#[test]
fn windows_without_the_service_wrapper_is_refused() {
    let fx = windows_guest("win2k22");
    let sb = Sandbox::new("win-nowrapper");
    let empty = sb.path("virt-tools");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(sb.path("out")).unwrap();
    let raw = fx.join("win2k22.raw");
    let sum = sha256(&raw);
    let r = run(sb
        .virt_v2v()
        .env("VIRTIO_WIN", fx.join("virtio-win"))
        .env("VIRT_TOOLS_DATA_DIR", &empty)
        .args(["-i", "disk"])
        .arg(&raw)
        .args(["-o", "local", "-os"])
        .arg(sb.path("out")));
    assert_eq!(r.code, 5, "{r}");
    let last = r.last_err_line();
    assert!(
        last.contains("rhsrvany.exe") && last.contains(&empty.display().to_string()),
        "{r}"
    );
    assert_eq!(sha256(&raw), sum, "the source was modified");
}
