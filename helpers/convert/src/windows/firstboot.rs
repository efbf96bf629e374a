//! First boot: what the converted guest runs once, as a Windows service
//! (a service wrapper, `rhsrvany.exe` or `pvvxsvc.exe`, running
//! `firstboot.bat`, which runs the numbered scripts in `scripts\`).
//! Pure text; every file is written with CRLF line ends.

use crate::customize::StaticIp;
use std::path::{Path, PathBuf};

/// The first-boot directory, in the guest (`/`-separated, from the root of
/// C:) and as Windows names it.
pub const DIR: &str = "/Program Files/Guestfs/Firstboot";
pub const DIR_WIN: &str = "C:\\Program Files\\Guestfs\\Firstboot";

/// The service wrappers virt-v2v can install, in order of preference.
pub const WRAPPERS: [&str; 2] = ["rhsrvany.exe", "pvvxsvc.exe"];

/// Where the service wrapper is looked for: `VIRT_TOOLS_DATA_DIR`, else
/// `/usr/share/virt-tools`.
pub fn tools_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    env("VIRT_TOOLS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/virt-tools"))
}

/// The first wrapper present (a regular file, not a dangling link).
pub fn find_wrapper(dir: &Path) -> Option<&'static str> {
    WRAPPERS.into_iter().find(|w| dir.join(w).is_file())
}

/// LF to CRLF.
pub fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// A script's file name: `PRIO-N-NAME.bat`, the name with anything but
/// letters, digits, `_` and `-` replaced by `-` (60 characters at most).
pub fn script_name(prio: u32, n: u32, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("{prio:04}-{n:04}-{clean}.bat")
}

/// The control script: runs each script of `scripts\` in name order, logs
/// to `log.txt`, moves a script that succeeded to `scripts-done\`; exit
/// code 249 means "retry at next boot", anything but 250 reboots before
/// the next script.  When none is left it leaves a `complete` file and
/// uninstalls the service.
pub fn control_script(wrapper: &str) -> String {
    crlf(&format!(
        r#"@echo off
rem virt-v2v first boot: run each script once, in order.
setlocal EnableDelayedExpansion
set "fb={DIR_WIN}"
set "log=%fb%\log.txt"
set "todo=%fb%\scripts"
set "done=%fb%\scripts-done"
call :run >> "%log%" 2>&1
exit /b

:run
echo firstboot service started as %USERDOMAIN%\%USERNAME%
if not exist "%done%" mkdir "%done%"
for %%s in ("%todo%"\*.bat) do (
  echo running %%~nxs
  pushd "%todo%"
  call "%%~ns"
  set rc=!errorlevel!
  popd
  echo %%~nxs exited with !rc!
  if !rc! EQU 249 (
    echo %%~nxs will be run again at next boot
  ) else (
    move "%%s" "%done%"
  )
  if !rc! NEQ 250 (
    shutdown /r /t 0 /y
    exit /b
  )
)
type nul > "%fb%\complete"
echo all first boot scripts done: removing the service
"%fb%\{wrapper}" -s firstboot uninstall
"#
    ))
}

/// Install every driver injected into `%SystemRoot%\Drivers\VirtIO` with
/// pnputil (runs first).  A pending reboot (Windows Update, component
/// servicing, pending file renames) postpones it to the next boot.
pub fn pnputil_script() -> String {
    crlf(
        r#"@echo off
rem virt-v2v: install the virtio drivers injected at conversion.
setlocal EnableDelayedExpansion
set "infs=%SystemRoot%\Drivers\VirtIO"
reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired" >nul 2>&1 && goto later
reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending" >nul 2>&1 && goto later
reg query "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager" /v PendingFileRenameOperations >nul 2>&1 && goto later
for %%i in ("%infs%\*.inf") do (
  echo pnputil: %%~nxi
  %SystemRoot%\Sysnative\PnPutil -i -a "%%i"
  if !errorlevel! neq 0 if !errorlevel! neq 259 (
    echo pnputil failed on %%~nxi
    exit /b 249
  )
)
exit /b 0
:later
echo a reboot is pending: drivers are installed at next boot
exit /b 249
"#,
    )
}

/// Uninstall a program (the command from its Uninstall entry); 3010
/// (reboot required) counts as success.
pub fn uninstall_script(what: &str, command: &str) -> String {
    crlf(&format!(
        "@echo off\nrem virt-v2v: uninstall {what}\necho uninstalling {what}\n{command}\nif errorlevel 3010 exit /b 0\n"
    ))
}

/// Run a PowerShell script of the first-boot `Temp` directory.
pub fn powershell_script(ps1_win: &str) -> String {
    crlf(&format!(
        "powershell.exe -ExecutionPolicy ByPass -NoProfile -file \"{ps1_win}\"\n"
    ))
}

/// PowerShell: install the QEMU guest agent MSIs (retrying while the
/// installer is busy).
pub fn qemu_ga_ps1(msis_win: &[String]) -> String {
    let mut s = String::from("# virt-v2v: install the QEMU guest agent\n");
    for m in msis_win {
        s.push_str(&format!(
            r#"$msi = "{m}"
for ($try = 1; $try -le 10; $try++) {{
  $p = Start-Process -Wait -PassThru -FilePath "$msi" -ArgumentList "/norestart","/qn","/l+*vx","`"$msi.log`""
  if ($p.ExitCode -eq 0) {{ Write-Host "installed $msi"; break }}
  Write-Host "$msi exited with $($p.ExitCode), attempt $try"
  Start-Sleep -Seconds 60
}}
"#
        ));
    }
    crlf(&s)
}

/// PowerShell: give each NIC named by MAC its static address once the
/// virtio-net driver (netkvm) has brought it up (virt-v2v's `--mac
/// MAC:ip:ADDR[,GW[,LEN[,NS...]]]` on Windows).
pub fn static_ip_ps1(ips: &[StaticIp]) -> String {
    let mut s = String::from(
        r#"# virt-v2v: static addresses (--mac MAC:ip:...), once netkvm is active
$deadline = (Get-Date).AddMinutes(10)
while (-not (Get-NetAdapter -Physical | Where-Object DriverFileName -eq "netkvm.sys")) {
  if ((Get-Date) -gt $deadline) { Write-Host "no virtio-net adapter after 10 minutes"; exit 249 }
  Start-Sleep -Seconds 5
}
"#,
    );
    for ip in ips {
        let (addr, gw, len, ns) = (ip.addr, ip.gateway, ip.prefix, &ip.nameservers);
        let dashed = ip.mac.to_ascii_uppercase().replace(':', "-");
        s.push_str(&format!(
            "$nic = Get-NetAdapter -Physical | Where-Object MacAddress -eq \"{dashed}\"\n\
             if (-not $nic) {{ Write-Host \"no adapter with MAC {dashed}\" }} else {{\n\
             \x20 Write-Host \"{dashed}: {addr}/{len}\"\n\
             \x20 New-NetIPAddress -InterfaceIndex $nic.ifIndex -IPAddress \"{addr}\" -PrefixLength {len}{}\n",
            gw.map(|g| format!(" -DefaultGateway \"{g}\""))
                .unwrap_or_default()
        ));
        if !ns.is_empty() {
            let list: Vec<String> = ns.iter().map(|n| format!("\"{n}\"")).collect();
            s.push_str(&format!(
                "  Set-DnsClientServerAddress -InterfaceIndex $nic.ifIndex -ServerAddresses ({})\n",
                list.join(",")
            ));
        }
        s.push_str("}\n");
    }
    crlf(&s)
}

/// Install the balloon service.
pub fn blnsvr_script(exe_win: &str) -> String {
    crlf(&format!(
        "@echo off\necho installing the balloon service\n\"{exe_win}\" -i\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_crlf_and_named_in_order() {
        for s in [
            control_script("rhsrvany.exe"),
            pnputil_script(),
            uninstall_script("VMware Tools", "MsiExec.exe /x{X}"),
            qemu_ga_ps1(&["C:\\a.msi".into()]),
        ] {
            assert!(s.ends_with("\r\n"));
            assert!(!s.replace("\r\n", "").contains('\n'), "{s:?}");
        }
        assert_eq!(
            script_name(2000, 1, "pnputil install drivers"),
            "2000-0001-pnputil-install-drivers.bat"
        );
        assert_eq!(
            script_name(5000, 4, "uninstall VMware Tools"),
            "5000-0004-uninstall-VMware-Tools.bat"
        );
        assert!(control_script("pvvxsvc.exe").contains("\\pvvxsvc.exe\" -s firstboot uninstall"));
    }

    #[test]
    fn static_addresses_wait_for_netkvm_then_match_by_mac() {
        let ip = |a: &str| StaticIp::parse(a).unwrap();
        let ps = static_ip_ps1(&[ip(
            "52:54:00:ab:cd:ef:ip:10.1.2.3,10.1.2.1,24,10.1.2.53,9.9.9.9",
        )]);
        assert!(ps.contains("DriverFileName -eq \"netkvm.sys\""), "{ps}");
        assert!(ps.contains("MacAddress -eq \"52-54-00-AB-CD-EF\""), "{ps}");
        assert!(ps.contains(
            "New-NetIPAddress -InterfaceIndex $nic.ifIndex -IPAddress \"10.1.2.3\" -PrefixLength 24 -DefaultGateway \"10.1.2.1\""
        ));
        assert!(ps.contains("-ServerAddresses (\"10.1.2.53\",\"9.9.9.9\")"));
        assert!(ps.ends_with("}\r\n") && !ps.replace("\r\n", "").contains('\n'));
        let bare = static_ip_ps1(&[ip("52:54:00:00:00:01:ip:fd00::5")]);
        assert!(
            !bare.contains("DefaultGateway") && !bare.contains("DnsClient"),
            "{bare}"
        );
    }

    #[test]
    fn wrapper_lookup() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(find_wrapper(t.path()), None);
        std::os::unix::fs::symlink("/nonexistent", t.path().join("rhsrvany.exe")).unwrap();
        assert_eq!(
            find_wrapper(t.path()),
            None,
            "a dangling link is not a wrapper"
        );
        std::fs::write(t.path().join("pvvxsvc.exe"), b"MZ").unwrap();
        assert_eq!(find_wrapper(t.path()), Some("pvvxsvc.exe"));
        assert_eq!(tools_dir(|_| None), PathBuf::from("/usr/share/virt-tools"));
        assert_eq!(tools_dir(|_| Some("/x".into())), PathBuf::from("/x"));
    }
}
