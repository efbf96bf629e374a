//! Property tests (issue 11): mutated `.vmx` files fed to the parser never
//! panic and each case is decided within `mutate::PER_CASE`.

use input_vmx::vmx;
use proptest::prelude::*;
use v2v_meta::Origin;
use v2v_test_support::mutate::{config, mutated_text, within};

const VMX: &str = ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\n\
displayName = \"g|22x\"\nguestOS = \"debian10-64\"\nmemSize = \"2048\"\nnumvcpus = \"4\"\n\
cpuid.coresPerSocket = \"2\"\nfirmware = \"efi\"\nscsi0.present = \"TRUE\"\n\
scsi0.virtualDev = \"pvscsi\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"g.vmdk\"\n\
sata0.present = \"TRUE\"\nsata0:1.present = \"TRUE\"\nsata0:1.fileName = \"/vmfs/volumes/ds/g/d.vmdk\"\n\
ide1:0.present = \"TRUE\"\nide1:0.deviceType = \"cdrom-image\"\nide1:0.fileName = \"x.iso\"\n\
ethernet0.present = \"TRUE\"\nethernet0.virtualDev = \"vmxnet3\"\nethernet0.networkName = \"VM Network\"\n\
ethernet0.addressType = \"static\"\nethernet0.address = \"00:50:56:00:00:42\"\n";

fn origin() -> Origin {
    Origin {
        input_type: "vmx".into(),
        location: vec!["g.vmx".into()],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn vmx_file(text in mutated_text(VMX)) {
        within("parse_vmx", || vmx::parse_vmx(&text, "g", origin()))?;
    }
}
