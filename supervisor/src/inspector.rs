//! `virt-v2v-inspector`: virt-v2v's input options; runs the input helper
//! and `helper-v2v-convert --inspect-only` (the drives attached read-only,
//! nothing changed, the source never written), then writes upstream's
//! `<v2v-inspection>` XML: each disk's virtual size and estimated
//! allocation, the firmware, the operating system.  See
//! docs/virt-v2v-inspector.md.

use crate::companion::{self, Companion, InputCli};
use clap::Parser;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use v2v_meta::{Firmware, MetadataIn, MetadataOut, V2vDir};
use v2v_render::libvirt::esc as escape;

/// Upstream's capability words for virt-v2v-inspector, those this build
/// has (`collect-option`: --collect is refused).
pub const FEATURES: &[&str] = &[
    "libguestfs-rewrite",
    "colours-option",
    "io",
    "mac-option",
    "mac-ip-option",
    "customize-ops",
];

/// Estimate what a virt-v2v conversion of a guest needs: its disks and
/// their allocation, its firmware and operating system, as XML.
#[derive(Debug, Parser)]
#[command(
    name = "virt-v2v-inspector",
    version,
    after_help = "Two-letter options (-ic -it -io -if -ip) are written with one dash, as in \
                  virt-v2v.  See docs/virt-v2v-inspector.md."
)]
pub struct Args {
    #[command(flatten)]
    pub cli: InputCli,
    /// Write the XML to FILE (`-`: stdout, the default).
    #[arg(short = 'O', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Entry point of the `virt-v2v-inspector` binary.
pub fn main() -> ExitCode {
    let program = "virt-v2v-inspector";
    let args: Args = match companion::parse(program, FEATURES, None, |a: &Args| &a.cli) {
        Ok(a) => a,
        Err(code) => return ExitCode::from(code),
    };
    if to_stdout(args.output.as_deref()) {
        // stdout carries the XML only.
        helper_common::log::set_messages_to_stdout(false);
    }
    let c = Companion {
        program,
        cli: &args.cli,
        input_types: None,
        input_extra: Vec::new(),
        convert_extra: vec!["--inspect-only".into()],
        changes_guest: false,
        print_source: false,
    };
    ExitCode::from(c.run(|dir| write_xml(program, dir, args.output.as_deref())))
}

/// One disk as the XML shows it: virtual size, and the bytes allocated
/// where the server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSize {
    pub virtual_size: u64,
    pub allocated: Option<u64>,
}

/// Whether `-O` (`None`: not given) means stdout.
pub fn to_stdout(output: Option<&Path>) -> bool {
    output.is_none_or(|p| p == Path::new("-"))
}

/// Measure every served disk of the run in `dir` and write the XML of
/// `program` to `output` (stdout for `None` or `-`).
pub fn write_xml(program: &str, dir: &V2vDir, output: Option<&Path>) -> Result<(), String> {
    let meta_in: MetadataIn = v2v_meta::read_json(&dir.metadata_in()).map_err(|e| e.to_string())?;
    let meta_out: MetadataOut =
        v2v_meta::read_json(&dir.metadata_out()).map_err(|e| e.to_string())?;
    let mut disks = Vec::new();
    for (i, d) in meta_in.source.disks.iter().enumerate() {
        let sock = dir.source_socket(i, d).map_err(|e| e.to_string())?;
        disks.push(measure(&sock).map_err(|e| format!("disk {}: {e}", d.index))?);
    }
    let xml = inspection_xml(program, &disks, &meta_out)?;
    match output.filter(|p| !to_stdout(Some(p))) {
        Some(p) => std::fs::write(p, xml).map_err(|e| format!("-O {}: {e}", p.display())),
        None => {
            print!("{xml}");
            Ok(())
        }
    }
}

/// The virtual size of what `socket` serves, and the bytes not reported
/// as holes (`base:allocation`; `None` when the server does not say).
pub fn measure(socket: &Path) -> Result<DiskSize, String> {
    let h = v2v_nbd::Handle::open(&socket.to_string_lossy())
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let virtual_size = h.size().map_err(|e| e.to_string())?;
    let allocated = if h
        .can_meta_context_base_allocation()
        .map_err(|e| e.to_string())?
    {
        let extents = h
            .block_status(0, virtual_size)
            .map_err(|e| format!("{}: block status: {e}", socket.display()))?;
        Some(extents.iter().filter(|e| !e.hole).map(|e| e.length).sum())
    } else {
        None
    };
    let _ = h.shutdown();
    Ok(DiskSize {
        virtual_size,
        allocated,
    })
}

/// Upstream's `<v2v-inspection>` document (element names and order as
/// virt-v2v's inspector writes them; disks numbered from 0).
pub fn inspection_xml(
    program: &str,
    disks: &[DiskSize],
    meta: &MetadataOut,
) -> Result<String, String> {
    let insp = meta
        .inspection
        .as_ref()
        .ok_or("metadata.out has no inspection")?;
    let mut x = String::from("<?xml version='1.0' encoding='utf-8'?>\n<v2v-inspection>\n");
    let el = |x: &mut String, indent: &str, name: &str, text: &str| {
        let _ = writeln!(x, "{indent}<{name}>{}</{name}>", escape(text));
    };
    el(&mut x, "  ", "program", program);
    el(&mut x, "  ", "package", "v2v-helpers");
    el(&mut x, "  ", "version", env!("CARGO_PKG_VERSION"));
    x.push_str("  <disks>\n");
    for (i, d) in disks.iter().enumerate() {
        let _ = writeln!(x, "    <disk index='{i}'>");
        el(
            &mut x,
            "      ",
            "virtual-size",
            &d.virtual_size.to_string(),
        );
        if let Some(a) = d.allocated {
            let _ = writeln!(x, "      <allocated estimated='true'>{a}</allocated>");
        }
        x.push_str("    </disk>\n");
    }
    x.push_str("  </disks>\n");
    let firmware = match meta.target.firmware {
        Firmware::Uefi => "uefi",
        _ => "bios",
    };
    let _ = writeln!(x, "  <firmware type='{firmware}'/>");
    x.push_str("  <operatingsystem>\n");
    let i = "    ";
    el(&mut x, i, "name", &insp.os_type);
    el(&mut x, i, "distro", &insp.distro);
    el(
        &mut x,
        i,
        "osinfo",
        insp.osinfo.as_deref().unwrap_or("unknown"),
    );
    el(&mut x, i, "arch", &insp.arch);
    el(&mut x, i, "major_version", &insp.major_version.to_string());
    el(&mut x, i, "minor_version", &insp.minor_version.to_string());
    let optional = [
        ("package_format", insp.package_format.as_str()),
        ("package_management", insp.package_management.as_str()),
        ("product_name", insp.product_name.as_str()),
    ];
    for (name, v) in optional.into_iter().filter(|(_, v)| !v.is_empty()) {
        el(&mut x, i, name, v);
    }
    if let Some(w) = &insp.windows {
        let windows = [
            ("product_variant", w.product_variant.as_str()),
            ("windows_systemroot", w.systemroot.as_str()),
            (
                "windows_current_control_set",
                w.current_control_set.as_str(),
            ),
        ];
        for (name, v) in windows.into_iter().filter(|(_, v)| !v.is_empty()) {
            el(&mut x, i, name, v);
        }
    }
    el(&mut x, i, "root", &insp.root);
    x.push_str("    <mountpoints>\n");
    for m in &insp.mountpoints {
        let _ = writeln!(
            x,
            "      <mountpoint dev='{}'>{}</mountpoint>",
            escape(&m.device),
            escape(&m.path)
        );
    }
    x.push_str("    </mountpoints>\n  </operatingsystem>\n</v2v-inspection>\n");
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_documented() {
        use clap::CommandFactory;
        crate::companion::assert_documented(Args::command(), "docs/virt-v2v-inspector.md");
    }

    #[test]
    fn document_has_upstreams_shape() {
        let meta: MetadataOut = serde_json::from_value(serde_json::json!({
            "version": 1, "converted": false,
            "inspection": {
                "os_type": "linux", "distro": "debian", "product_name": "Debian <12>",
                "major_version": 12, "minor_version": 0, "arch": "x86_64",
                "root": "/dev/sda1", "package_format": "deb", "package_management": "apt",
                "osinfo": "debian12",
                "mountpoints": [{"path": "/", "device": "/dev/sda1"}],
                "kernels": [], "firmware": "bios"
            },
            "target": {"block_bus": "virtio-blk", "net_model": "virtio", "machine": "q35",
                       "arch": "x86_64", "firmware": "bios", "video": "vga"},
            "changes": [], "warnings": []
        }))
        .unwrap();
        let disks = [
            DiskSize {
                virtual_size: 100,
                allocated: Some(40),
            },
            DiskSize {
                virtual_size: 7,
                allocated: None,
            },
        ];
        let x = inspection_xml("virt-v2v-inspector", &disks, &meta).unwrap();
        assert!(x.starts_with("<?xml version='1.0' encoding='utf-8'?>\n<v2v-inspection>\n  <program>virt-v2v-inspector</program>\n"), "{x}");
        assert!(x.contains("<disk index='0'>\n      <virtual-size>100</virtual-size>\n      <allocated estimated='true'>40</allocated>\n    </disk>"), "{x}");
        assert!(
            x.contains("<disk index='1'>\n      <virtual-size>7</virtual-size>\n    </disk>"),
            "{x}"
        );
        assert!(
            x.contains("<product_name>Debian &lt;12&gt;</product_name>"),
            "{x}"
        );
        assert!(
            x.contains("<mountpoint dev='/dev/sda1'>/</mountpoint>"),
            "{x}"
        );
        assert!(x.contains("<firmware type='bios'/>"), "{x}");
        let os = x.find("<operatingsystem>").unwrap();
        let order = [
            "<name>",
            "<distro>",
            "<osinfo>",
            "<arch>",
            "<major_version>",
            "<minor_version>",
            "<package_format>",
            "<package_management>",
            "<product_name>",
            "<root>",
            "<mountpoints>",
        ];
        let at: Vec<usize> = order.iter().map(|t| x[os..].find(t).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{x}");
        let mut none = meta.clone();
        none.inspection = None;
        assert!(inspection_xml("p", &disks, &none).is_err());
    }
}
