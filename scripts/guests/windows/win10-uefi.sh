# Windows 10, UEFI, GPT with an ESP holding the BCD; RTC in UTC.
DESCRIPTION="phony Windows 10 Pro (UEFI, GPT, ESP with BCD, NTFS C:, VMware Tools)"
FIRMWARE=uefi
HOSTNAME=phony-w10
SYSTEM_EXTRA=system-win8plus.reg
PRODUCT="Windows 10 Pro" EDITION=Professional INSTALLATION_TYPE=Client
CURRENT_VERSION=6.3 MAJOR=10 MINOR=0 BUILD=19045
RTC_UTC=1
