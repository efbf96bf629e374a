//! Property tests (issue 11): mutated libvirt XML, OVF and VMDK
//! descriptors fed to the shared parsers never panic and each case is
//! decided within `mutate::PER_CASE`.  `PROPTEST_CASES` sets the count.

use proptest::prelude::*;
use v2v_input_kit::{domain, safe, vmdk};
use v2v_meta::Origin;
use v2v_test_support::mutate::{config, mutated, mutated_text, within};

const DOMAIN: &str = "<domain type='kvm'>\n<name>g</name>\n<memory unit='KiB'>524288</memory>\n\
<vcpu>2</vcpu>\n<os><type arch='x86_64'>hvm</type><loader type='pflash'>/x</loader></os>\n\
<cpu><topology sockets='1' cores='2' threads='1'/></cpu>\n<devices>\n\
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/d/a.qcow2'/>\
<target dev='sda' bus='scsi'/></disk>\n\
<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='e'>\
<host name='h' port='10809'/></source><target dev='vdb' bus='virtio'/></disk>\n\
<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>\n\
<interface type='network'><mac address='52:54:00:01:02:03'/><source network='default'/>\
<model type='e1000'/></interface>\n<video><model type='qxl'/></video>\n</devices>\n</domain>\n";

const DESCRIPTOR: &str = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
createType=\"twoGbMaxExtentFlat\"\n\n# Extent description\nRW 2048 FLAT \"g-f001.vmdk\" 0\n\
RW 4096 FLAT \"g-f002.vmdk\" 0\n\n# The Disk Data Base\nddb.adapterType = \"lsilogic\"\n\
ddb.geometry.cylinders = \"2\"\n";

fn origin() -> Origin {
    Origin {
        input_type: "libvirtxml".into(),
        location: vec!["g.xml".into()],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn libvirt_xml(text in mutated_text(DOMAIN)) {
        within("parse_domain", || domain::parse_domain(&text, origin()))?;
    }

    #[test]
    fn xml_depth_and_size(text in mutated_text(&DOMAIN.replace("<vcpu>", &"<x>".repeat(200)))) {
        within("parse_xml", || safe::parse_xml(&text).map(drop))?;
    }

    #[test]
    fn vmdk_descriptor(text in mutated_text(DESCRIPTOR)) {
        within("parse_descriptor", || vmdk::parse_descriptor(&text))?;
    }

    #[test]
    fn vmdk_head(head in mutated(DESCRIPTOR.as_bytes())) {
        within("descriptor_from_head", || vmdk::descriptor_from_head(&head, "VMDK x").map(drop))?;
    }
}
