//! Registry edits as data ([`Edit`]: a key path and values to set), the
//! edits Windows conversion makes (pure functions), and their application
//! to a hive opened through libguestfs's `hivex_*` calls.

use helper_common::{Failure, Result};
use v2v_guestfs::hivex::{REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ};
use v2v_guestfs::Guestfs;

/// A registry value to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Binary(Vec<u8>),
}

/// UTF-16LE with the terminating NUL, as the registry stores strings.
pub fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// A registry string (UTF-16LE, NUL-terminated or not) as text.
pub fn from_utf16(b: &[u8]) -> String {
    let u: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16_lossy(&u);
    s.trim_end_matches('\0').to_string()
}

impl Value {
    /// hivex type and bytes.
    pub fn encode(&self) -> (i64, Vec<u8>) {
        match self {
            Value::Sz(s) => (REG_SZ, utf16z(s)),
            Value::ExpandSz(s) => (REG_EXPAND_SZ, utf16z(s)),
            Value::MultiSz(v) => {
                let mut b: Vec<u8> = v.iter().flat_map(|s| utf16z(s)).collect();
                b.extend([0, 0]);
                (REG_MULTI_SZ, b)
            }
            Value::Dword(d) => (REG_DWORD, d.to_le_bytes().to_vec()),
            Value::Binary(b) => (REG_BINARY, b.clone()),
        }
    }
}

/// Create key `path` (below the hive's root) and set `values` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: Vec<String>,
    pub values: Vec<(String, Value)>,
}

fn edit(path: &[&str], values: Vec<(&str, Value)>) -> Edit {
    Edit {
        path: path.iter().map(|s| s.to_string()).collect(),
        values: values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The SCSI adapter device class.
pub const SCSI_CLASS_GUID: &str = "{4D36E97B-E325-11CE-BFC1-08002BE10318}";

/// The PCI IDs (legacy, modern) a block driver binds (upstream's current
/// form: no `SUBSYS_`).
pub fn block_pci_ids(driver: &str) -> [&'static str; 2] {
    if driver == "vioscsi" {
        ["VEN_1AF4&DEV_1004&REV_00", "VEN_1AF4&DEV_1048&REV_01"]
    } else {
        ["VEN_1AF4&DEV_1001&REV_00", "VEN_1AF4&DEV_1042&REV_01"]
    }
}

/// Where the SYSTEM hive binds a boot-critical driver to its device:
/// the CriticalDeviceDatabase before Windows 8, the DriverDatabase after
/// (chosen, as upstream does, by whether the hive has a DriverDatabase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    CriticalDeviceDatabase,
    DriverDatabase,
}

/// The SYSTEM-hive edits that let Windows boot from `driver` (`viostor`
/// or `vioscsi`): its service, and each PCI ID bound to it.
pub fn block_driver_edits(ccs: &str, driver: &str, binding: Binding, arch: &str) -> Vec<Edit> {
    let mut v = Vec::new();
    for id in block_pci_ids(driver) {
        match binding {
            Binding::CriticalDeviceDatabase => v.push(edit(
                &[
                    ccs,
                    "Control",
                    "CriticalDeviceDatabase",
                    &format!("PCI#{id}"),
                ],
                vec![
                    ("Service", Value::Sz(driver.into())),
                    ("ClassGUID", Value::Sz(SCSI_CLASS_GUID.into())),
                ],
            )),
            Binding::DriverDatabase => v.extend(ddb_edits(driver, id, arch)),
        }
    }
    v.push(edit(
        &[ccs, "Services", driver],
        vec![
            ("Type", Value::Dword(1)),
            ("Start", Value::Dword(0)),
            ("Group", Value::Sz("SCSI miniport".into())),
            ("ErrorControl", Value::Dword(1)),
            (
                "ImagePath",
                Value::ExpandSz(format!("system32\\drivers\\{driver}.sys")),
            ),
        ],
    ));
    v
}

/// The DriverDatabase entries of a driver package `guestor.inf` binding
/// `pci_id` to `driver` (Windows 8 and later).
fn ddb_edits(driver: &str, pci_id: &str, arch: &str) -> Vec<Edit> {
    let winarch = if arch == "i386" { "x86" } else { "amd64" };
    let inf = "guestor.inf";
    let label = format!("{inf}_{winarch}_0000000000000000");
    let conf = "guestor_conf";
    // Package version record: its class GUID (SCSI adapters) in binary.
    let mut version = vec![0x00, 0xff, 0x09, 0x00, 0, 0, 0, 0];
    version.extend([
        0x7b, 0xe9, 0x36, 0x4d, 0x25, 0xe3, 0xce, 0x11, 0xbf, 0xc1, 0x08, 0x00, 0x2b, 0xe1, 0x03,
        0x18,
    ]);
    version.extend([0u8; 24]);
    vec![
        edit(
            &["DriverDatabase", "DriverInfFiles", inf],
            vec![
                ("", Value::MultiSz(vec![label.clone()])),
                ("Active", Value::Sz(label.clone())),
                ("Configurations", Value::MultiSz(vec![conf.into()])),
            ],
        ),
        edit(
            &["DriverDatabase", "DeviceIds", "PCI", pci_id],
            vec![(inf, Value::Binary(vec![0x01, 0xff, 0x00, 0x00]))],
        ),
        edit(
            &["DriverDatabase", "DriverPackages", &label],
            vec![("Version", Value::Binary(version))],
        ),
        edit(
            &[
                "DriverDatabase",
                "DriverPackages",
                &label,
                "Configurations",
                conf,
            ],
            vec![
                ("ConfigFlags", Value::Dword(0)),
                ("Service", Value::Sz(driver.into())),
            ],
        ),
        edit(
            &[
                "DriverDatabase",
                "DriverPackages",
                &label,
                "Descriptors",
                "PCI",
                pci_id,
            ],
            vec![("Configuration", Value::Sz(conf.into()))],
        ),
    ]
}

/// The first-boot service (SYSTEM hive): runs `wrapper` from `dir_win`,
/// which runs firstboot.bat.
pub fn firstboot_service_edits(ccs: &str, dir_win: &str, wrapper: &str) -> Vec<Edit> {
    vec![
        edit(
            &[ccs, "Services", "firstboot"],
            vec![
                ("Type", Value::Dword(0x10)),
                ("Start", Value::Dword(2)),
                ("ErrorControl", Value::Dword(1)),
                (
                    "ImagePath",
                    Value::Sz(format!("{dir_win}\\{wrapper} -s firstboot")),
                ),
                (
                    "DisplayName",
                    Value::Sz("Virt tools firstboot service".into()),
                ),
                ("ObjectName", Value::Sz("LocalSystem".into())),
            ],
        ),
        edit(
            &[ccs, "Services", "firstboot", "Parameters"],
            vec![
                (
                    "CommandLine",
                    Value::Sz(format!("cmd /c \"{dir_win}\\firstboot.bat\"")),
                ),
                ("PWD", Value::Sz(dir_win.into())),
            ],
        ),
    ]
}

/// What virt-v2v appends to SOFTWARE's DevicePath.
pub const DEVICE_PATH_APPEND: &str = ";%SystemRoot%\\Drivers\\VirtIO";

/// DevicePath with the VirtIO driver directory appended (`None`: already
/// there).  The UTF-16 NUL terminator is kept at the end.
pub fn append_device_path(data: &[u8]) -> Option<Vec<u8>> {
    let add: Vec<u8> = utf16z(DEVICE_PATH_APPEND);
    let add = &add[..add.len() - 2];
    if data.windows(add.len()).any(|w| w == add) {
        return None;
    }
    let mut d = data.to_vec();
    if d.ends_with(&[0, 0]) && d.len() % 2 == 0 {
        d.truncate(d.len() - 2);
    }
    d.extend_from_slice(add);
    d.extend([0, 0]);
    Some(d)
}

/// The uninstall command for an Uninstall entry's UninstallString:
/// VMware Tools records its MSI *install* command (`MsiExec.exe /I{...}`),
/// turned into `/X`; then quiet, no restart, logged next to the script.
pub fn uninstall_command(uninstall_string: &str) -> String {
    let cmd = if uninstall_string.to_ascii_lowercase().contains("msiexec") {
        replace_ci(uninstall_string, "/i", "/x")
    } else {
        uninstall_string.to_string()
    };
    format!("{cmd} /quiet /norestart /l*v+ \"%~dpn0.log\" REBOOT=ReallySuppress REMOVE=ALL")
}

fn replace_ci(s: &str, from: &str, to: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::new();
    let mut i = 0;
    while let Some(j) = lower[i..].find(from) {
        out.push_str(&s[i..i + j]);
        out.push_str(to);
        i += j + from.len();
    }
    out.push_str(&s[i..]);
    out
}

/// An open hive (between `hivex_open` and `hivex_close`) of the handle.
pub struct Hive<'a> {
    pub g: &'a Guestfs,
    /// The hive file, for messages.
    pub file: String,
}

impl<'a> Hive<'a> {
    /// Open `file` (read-write when `write`); run `f`; commit if `write`
    /// and `f` succeeded; close.
    pub fn with<T>(
        g: &'a Guestfs,
        file: &str,
        write: bool,
        f: impl FnOnce(&Hive<'a>) -> Result<T>,
    ) -> Result<T> {
        g.hivex_open(file, write)
            .map_err(|e| Failure::failed(format!("cannot open the registry hive {file}: {e}")))?;
        let h = Hive {
            g,
            file: file.to_string(),
        };
        let r = f(&h);
        let r = match r {
            Ok(v) if write => h
                .g
                .hivex_commit()
                .map_err(|e| Failure::failed(format!("cannot save the registry hive {file}: {e}")))
                .map(|()| v),
            r => r,
        };
        let _ = g.hivex_close();
        r
    }
    fn fail(&self, e: v2v_guestfs::Error) -> Failure {
        Failure::failed(format!("registry hive {}: {e}", self.file))
    }
    pub fn root(&self) -> Result<i64> {
        self.g.hivex_root().map_err(|e| self.fail(e))
    }
    /// The node at `path` below the root, if it exists.
    pub fn node(&self, path: &[&str]) -> Result<Option<i64>> {
        let mut n = self.root()?;
        for p in path {
            n = self
                .g
                .hivex_node_get_child(n, p)
                .map_err(|e| self.fail(e))?;
            if n == 0 {
                return Ok(None);
            }
        }
        Ok(Some(n))
    }
    /// The node at `path`, created with its missing parents.
    pub fn create(&self, path: &[String]) -> Result<i64> {
        let mut n = self.root()?;
        for p in path {
            let c = self
                .g
                .hivex_node_get_child(n, p)
                .map_err(|e| self.fail(e))?;
            n = if c == 0 {
                self.g
                    .hivex_node_add_child(n, p)
                    .map_err(|e| self.fail(e))?
            } else {
                c
            };
        }
        Ok(n)
    }
    /// A value's type and bytes, if it exists.
    pub fn value(&self, node: i64, key: &str) -> Result<Option<(i64, Vec<u8>)>> {
        let v = self
            .g
            .hivex_node_get_value(node, key)
            .map_err(|e| self.fail(e))?;
        if v == 0 {
            return Ok(None);
        }
        let t = self.g.hivex_value_type(v).map_err(|e| self.fail(e))?;
        let b = self.g.hivex_value_value(v).map_err(|e| self.fail(e))?;
        Ok(Some((t, b)))
    }
    /// A string value as text.
    pub fn string(&self, node: i64, key: &str) -> Result<Option<String>> {
        Ok(self.value(node, key)?.map(|(_, b)| from_utf16(&b)))
    }
    pub fn set(&self, node: i64, key: &str, t: i64, data: &[u8]) -> Result<()> {
        self.g
            .hivex_node_set_value(node, key, t, data)
            .map_err(|e| self.fail(e))
    }
    /// Apply edits.
    pub fn import(&self, edits: &[Edit]) -> Result<()> {
        for e in edits {
            let n = self.create(&e.path)?;
            for (k, v) in &e.values {
                let (t, b) = v.encode();
                self.set(n, k, t, &b)?;
            }
        }
        Ok(())
    }
    pub fn children(&self, node: i64) -> Result<Vec<i64>> {
        self.g.hivex_node_children(node).map_err(|e| self.fail(e))
    }
    pub fn name(&self, node: i64) -> Result<String> {
        self.g.hivex_node_name(node).map_err(|e| self.fail(e))
    }
    pub fn delete(&self, node: i64) -> Result<()> {
        self.g
            .hivex_node_delete_child(node)
            .map_err(|e| self.fail(e))
    }
}

/// `HKLM\SYSTEM\...` path for messages.
pub fn key_name(hive: &str, path: &[String]) -> String {
    format!("HKLM\\{hive}\\{}", path.join("\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_the_registry_does() {
        assert_eq!(utf16z("A:"), vec![0x41, 0, 0x3a, 0, 0, 0]);
        assert_eq!(from_utf16(&utf16z("héllo")), "héllo");
        assert_eq!(Value::Dword(0x10).encode(), (4, vec![0x10, 0, 0, 0]));
        let (t, b) = Value::MultiSz(vec!["a".into(), "b".into()]).encode();
        assert_eq!((t, b), (7, vec![0x61, 0, 0, 0, 0x62, 0, 0, 0, 0, 0]));
        assert_eq!(Value::ExpandSz("x".into()).encode().0, 2);
    }

    #[test]
    fn block_driver_binding_before_and_after_windows_8() {
        let cdb = block_driver_edits(
            "ControlSet001",
            "viostor",
            Binding::CriticalDeviceDatabase,
            "x86_64",
        );
        let paths: Vec<String> = cdb.iter().map(|e| e.path.join("\\")).collect();
        assert_eq!(
            paths,
            [
                "ControlSet001\\Control\\CriticalDeviceDatabase\\PCI#VEN_1AF4&DEV_1001&REV_00",
                "ControlSet001\\Control\\CriticalDeviceDatabase\\PCI#VEN_1AF4&DEV_1042&REV_01",
                "ControlSet001\\Services\\viostor"
            ]
        );
        assert_eq!(
            cdb[0].values[0],
            ("Service".into(), Value::Sz("viostor".into()))
        );
        let svc = &cdb[2].values;
        assert_eq!(svc[1], ("Start".into(), Value::Dword(0)));
        assert_eq!(
            svc[4],
            (
                "ImagePath".into(),
                Value::ExpandSz("system32\\drivers\\viostor.sys".into())
            )
        );
        let ddb = block_driver_edits(
            "ControlSet002",
            "vioscsi",
            Binding::DriverDatabase,
            "x86_64",
        );
        let paths: Vec<String> = ddb.iter().map(|e| e.path.join("\\")).collect();
        assert!(
            paths.contains(&"DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1048&REV_01".to_string())
        );
        assert!(paths.contains(
            &"DriverDatabase\\DriverPackages\\guestor.inf_amd64_0000000000000000\\Descriptors\\PCI\\VEN_1AF4&DEV_1004&REV_00"
                .to_string()
        ));
        assert_eq!(paths.last().unwrap(), "ControlSet002\\Services\\vioscsi");
        assert!(!paths.iter().any(|p| p.contains("SUBSYS")));
        let x86 = block_driver_edits("ControlSet001", "viostor", Binding::DriverDatabase, "i386");
        assert!(x86[0].values[1].1 == Value::Sz("guestor.inf_x86_0000000000000000".into()));
    }

    #[test]
    fn device_path_is_appended_once_keeping_the_terminator() {
        let d = utf16z("%SystemRoot%\\inf");
        let n = append_device_path(&d).unwrap();
        assert_eq!(
            from_utf16(&n),
            "%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO"
        );
        assert!(n.ends_with(&[0, 0]));
        assert_eq!(
            n.len(),
            utf16z("%SystemRoot%\\inf;%SystemRoot%\\Drivers\\VirtIO").len()
        );
        assert_eq!(append_device_path(&n), None);
        // Without a terminator: one is added.
        let n = append_device_path(&d[..d.len() - 2]).unwrap();
        assert!(n.ends_with(&[0, 0]));
    }

    #[test]
    fn vmware_tools_msi_install_command_becomes_an_uninstall() {
        assert_eq!(
            uninstall_command("MsiExec.exe /I{C2F8A1D7-3B5E-4F0A-9C2E-5D6B7A8F9E01}"),
            "MsiExec.exe /x{C2F8A1D7-3B5E-4F0A-9C2E-5D6B7A8F9E01} /quiet /norestart /l*v+ \"%~dpn0.log\" REBOOT=ReallySuppress REMOVE=ALL"
        );
        assert!(
            uninstall_command("\"C:\\x\\uninst.exe\"").starts_with("\"C:\\x\\uninst.exe\" /quiet")
        );
    }
}
