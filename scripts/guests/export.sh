# guests/export.sh - the descriptions VMware and libvirt would hold for a
# test guest, sourced by guests/build.sh (which sets NAME, DISKS, FIRMWARE,
# RAWS, VMDKS, OVA_VMDKS).  The disks on one LSI Logic SCSI controller
# (scsi0:0, scsi0:1...), one E1000 NIC, 1 GiB of memory, one vCPU.

VMX_MAC=00:0c:29:12:34:56   # VMware's generated-MAC prefix
XML_MAC=52:54:00:12:34:56
# VMware spells UEFI "efi".
VMW_FIRMWARE=$FIRMWARE
[ "$FIRMWARE" = uefi ] && VMW_FIRMWARE=efi

ovf_files() {
  local i f
  for i in "${!OVA_VMDKS[@]}"; do
    f=${OVA_VMDKS[$i]}
    echo "    <File ovf:id=\"file$((i + 1))\" ovf:href=\"$f\" ovf:size=\"$(stat -c %s "$f")\"/>"
  done
}
ovf_disks() {
  local i=1 mib
  for mib in $DISKS; do
    echo "    <Disk ovf:diskId=\"vmdisk$i\" ovf:fileRef=\"file$i\" ovf:capacity=\"$mib\""
    echo '        ovf:capacityAllocationUnits="byte * 2^20"'
    echo '        ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>'
    i=$((i + 1))
  done
}
ovf_disk_items() {
  local i
  for i in "${!OVA_VMDKS[@]}"; do
    cat <<EOF
      <Item>
        <rasd:AddressOnParent>$i</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk $((i + 1))</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk$((i + 1))</rasd:HostResource>
        <rasd:InstanceID>$((4 + i))</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
EOF
  done
}

# An OVF as VMware's ovftool writes it (OVF 1.0, rasd items).
write_ovf() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
    xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
$(ovf_files)
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
$(ovf_disks)
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network ovf:name="VM Network"><Description>VM Network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="$NAME">
    <Info>A virtual machine</Info>
    <Name>$NAME</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian12_64Guest">
      <Info>Guest OS</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>$NAME</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>1024MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
$(ovf_disk_items)
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>$((4 + ${#OVA_VMDKS[@]}))</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="$VMW_FIRMWARE"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF
}

vmx_disks() {
  local i
  for i in "${!VMDKS[@]}"; do
    printf 'scsi0:%s.present = "TRUE"\nscsi0:%s.deviceType = "scsi-hardDisk"\nscsi0:%s.fileName = "%s"\n' \
      "$i" "$i" "$i" "${VMDKS[$i]}"
  done
}

# A .vmx next to monolithicSparse $NAME.vmdk, ${NAME}_1.vmdk...
write_vmx() {
  cat <<EOF
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "$NAME"
guestOS = "debian12-64"
firmware = "$VMW_FIRMWARE"
memSize = "1024"
numvcpus = "1"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
$(vmx_disks)
ethernet0.present = "TRUE"
ethernet0.virtualDev = "e1000"
ethernet0.networkName = "VM Network"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "$VMX_MAC"
EOF
}

libvirt_disks() {
  local i letters=abcdefghij
  for i in "${!RAWS[@]}"; do
    cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${RAWS[$i]}'/>
      <target dev='sd${letters:$i:1}' bus='sata'/>
    </disk>
EOF
  done
}

# A libvirt domain on the raw disks (SATA, e1000), as a KVM host that ran the
# VMware guest unconverted would have it; a UEFI guest's asks for OVMF.
write_libvirt_xml() {
  local os="<os>"
  [ "$FIRMWARE" = uefi ] && os="<os firmware='efi'>"
  cat <<EOF
<domain type='kvm'>
  <name>$NAME</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu>1</vcpu>
  $os
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <devices>
$(libvirt_disks)
    <interface type='network'>
      <mac address='$XML_MAC'/>
      <source network='default'/>
      <model type='e1000'/>
    </interface>
    <serial type='pty'/>
  </devices>
</domain>
EOF
}
