# Windows Server 2022, BIOS, MBR.
DESCRIPTION="phony Windows Server 2022 (BIOS, MBR, NTFS C:, VMware Tools)"
FIRMWARE=bios
HOSTNAME=phony-2k22
SYSTEM_EXTRA=system-win8plus.reg
cat >"$work/software-version.reg" <<'REG'
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"=str(1):"Windows Server 2022 Standard"
"EditionID"=str(1):"ServerStandard"
"InstallationType"=str(1):"Server"
"CurrentVersion"=str(1):"6.3"
"CurrentMajorVersionNumber"=dword:0000000a
"CurrentMinorVersionNumber"=dword:00000000
"CurrentBuild"=str(1):"20348"
"CurrentBuildNumber"=str(1):"20348"
"SystemRoot"=str(1):"C:\\Windows"
REG
