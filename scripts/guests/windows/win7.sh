# Windows 7, BIOS, MBR: the CriticalDeviceDatabase path.
DESCRIPTION="phony Windows 7 Professional x64 (BIOS, MBR, NTFS C:, VMware Tools)"
FIRMWARE=bios
HOSTNAME=phony-w7
SYSTEM_EXTRA=system-win7.reg
cat >"$work/software-version.reg" <<'REG'
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"=str(1):"Windows 7 Professional"
"EditionID"=str(1):"Professional"
"InstallationType"=str(1):"Client"
"CurrentVersion"=str(1):"6.1"
"CurrentBuild"=str(1):"7601"
"CurrentBuildNumber"=str(1):"7601"
"SystemRoot"=str(1):"C:\\Windows"
REG
