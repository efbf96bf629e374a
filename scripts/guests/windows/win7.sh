# Windows 7, BIOS, MBR: the CriticalDeviceDatabase path; no
# CurrentMajorVersionNumber (inspection reads CurrentVersion).
DESCRIPTION="phony Windows 7 Professional x64 (BIOS, MBR, NTFS C:, VMware Tools)"
FIRMWARE=bios
HOSTNAME=phony-w7
SYSTEM_EXTRA=system-win7.reg
PRODUCT="Windows 7 Professional" EDITION=Professional INSTALLATION_TYPE=Client
CURRENT_VERSION=6.1 MAJOR= MINOR= BUILD=7601
RTC_UTC=
