//! `helper-v2v-output-json check|setup|final`: local disk files named by
//! `-oo json-disks-pattern` and `NAME.json`, the metadata in virt-v2v
//! 1.42–2.1's format (virt-v2v's `-o json`).

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{Ctx, Failure, Result};
use v2v_output_kit::{self as kit, unknown_oo, LocalOptions};
use v2v_render::json as render;

/// `-o json`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub local: LocalOptions,
    /// `-oo json-disks-pattern` (default `%{GuestName}-%{DiskDeviceName}`).
    pub pattern: String,
}

/// `-o json`.
pub struct Json;

impl OutputType for Json {
    const NAME: &'static str = "json";
    const PROG: &'static str = "helper-v2v-output-json";
    const ABOUT: &'static str = "Output to local files and JSON metadata: `setup` creates and \
        serves the target disks, `final` writes NAME.json";
    const SETUP: &'static str = "Create the disks named by -oo json-disks-pattern under OUTDIR, \
        serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str = "Write OUTDIR/NAME.json from description.json";
    const OPTIONS: &'static str = "-o json: -os OUTDIR (required) is the directory for the disks \
        and NAME.json; -of raw|qcow2 (default raw); -oa sparse|preallocated (default sparse); \
        -oo json-disks-pattern=PATTERN names the disks under OUTDIR, with %{GuestName}, \
        %{DiskNo} (1, 2, ...) and %{DiskDeviceName} (sda, sdb, ...) (default \
        %{GuestName}-%{DiskDeviceName}); -oc cannot be used.";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        let mut pattern: Option<String> = None;
        let local = kit::validate(args, Self::NAME, false, |k, v, _| {
            match k {
                "json-disks-pattern" => {
                    if pattern.is_some() {
                        return Err(Failure::usage(
                            "-o json: -oo json-disks-pattern set more than once",
                        ));
                    }
                    render::check_pattern(v).map_err(Failure::usage)?;
                    kit::path_under(std::path::Path::new("/"), v, "-oo json-disks-pattern")?;
                    pattern = Some(v.to_string());
                }
                _ => return Err(unknown_oo(Self::NAME, k)),
            }
            Ok(())
        })?;
        Ok(Options {
            local,
            pattern: pattern.unwrap_or_else(|| render::DEFAULT_PATTERN.into()),
        })
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        kit::setup_for(ctx, Self::NAME, &opts.local, "json", |os, name, md| {
            (0..md.source.disks.len())
                .map(|i| {
                    let file = render::expand_pattern(&opts.pattern, name, i);
                    // Under OUTDIR even when it starts with `/` (virt-v2v joins them).
                    kit::path_under(os, file.trim_start_matches('/'), "-oo json-disks-pattern")
                })
                .collect()
        })
    }

    /// OUTDIR/NAME.json, rendered from description.json.
    fn finalize(ctx: &Ctx) -> Result<()> {
        let oj = Self::read_output_json(ctx)?;
        kit::write_final(ctx, &oj, "json", 0o644, |d| {
            let uefi = match d.firmware {
                v2v_meta::GuestFirmware::Bios => None,
                v2v_meta::GuestFirmware::Uefi => {
                    Some(render::find_uefi_firmware(&d.arch).ok_or_else(|| {
                        Failure::unsupported(format!(
                            "cannot find firmware for UEFI guests ({}); install OVMF (Debian: ovmf)",
                            d.arch
                        ))
                    })?)
                }
            };
            Ok(render::text(d, uefi.as_ref()))
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn options_are_virt_v2vs() {
        let t = tempfile::tempdir().unwrap();
        let mut a = OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: Some(t.path().to_path_buf()),
            options: vec!["json-disks-pattern=%{GuestName}/disk%{DiskNo}.img".into()],
            ..Default::default()
        };
        let o = Json::validate(&a).unwrap();
        assert_eq!(o.pattern, "%{GuestName}/disk%{DiskNo}.img");
        a.options.clear();
        assert_eq!(Json::validate(&a).unwrap().pattern, render::DEFAULT_PATTERN);
        for (oo, oc, want) in [
            (
                vec!["json-disks-pattern=%{X}"],
                None,
                "unhandled variable %{X}",
            ),
            (
                vec!["json-disks-pattern=a", "json-disks-pattern=b"],
                None,
                "set more than once",
            ),
            (vec!["json-disks-pattern=../x"], None, "without ‘..’"),
            (
                vec!["compressed"],
                None,
                "unknown output option ‘-oo compressed’",
            ),
            (
                vec![],
                Some("qemu:///system"),
                "-o json: -oc option cannot be used",
            ),
        ] {
            a.options = oo.into_iter().map(String::from).collect();
            a.conn = oc.map(String::from);
            let f = Json::validate(&a).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(want), "{}", f.message);
        }
    }
}
