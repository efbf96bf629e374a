# Windows 10, UEFI, GPT with an ESP holding the BCD.
DESCRIPTION="phony Windows 10 Pro (UEFI, GPT, ESP with BCD, NTFS C:, VMware Tools)"
FIRMWARE=uefi
HOSTNAME=phony-w10
SYSTEM_EXTRA=system-win8plus.reg
cat >"$work/software-version.reg" <<'REG'
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"=str(1):"Windows 10 Pro"
"EditionID"=str(1):"Professional"
"InstallationType"=str(1):"Client"
"CurrentVersion"=str(1):"6.3"
"CurrentMajorVersionNumber"=dword:0000000a
"CurrentMinorVersionNumber"=dword:00000000
"CurrentBuild"=str(1):"19045"
"CurrentBuildNumber"=str(1):"19045"
"SystemRoot"=str(1):"C:\\Windows"
REG
# This guest keeps its hardware clock in UTC.
cat >>"$work/system-extra.reg" <<'REG'

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\TimeZoneInformation]
"RealTimeIsUniversal"=dword:00000001
REG
