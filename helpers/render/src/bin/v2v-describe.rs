//! `v2v-describe [--check] [-n [IN:]OUT]... [-b [IN:]OUT]... [--mac MAC:KIND:OUT]... DIR`:
//! write `DIR/description.json` (what `virt-v2v` does in-process before
//! the output's `final`; `scripts/virt-v2v.sh` runs this).

use std::path::PathBuf;
use std::process::ExitCode;
use v2v_meta::{exit_code, V2vDir};

/// Write DIR/description.json, the converted guest as outputs render it,
/// from metadata.in, metadata.out (if present) and output.json, with the
/// network mapping applied.
#[derive(Debug, clap::Parser)]
#[command(name = "v2v-describe", version)]
struct Cli {
    /// Map network IN to OUT; OUT alone maps every other network.
    #[arg(short = 'n', long = "network", value_name = "[IN:]OUT")]
    network: Vec<String>,
    /// Map bridge IN to OUT; OUT alone maps every other bridge.
    #[arg(short = 'b', long = "bridge", value_name = "[IN:]OUT")]
    bridge: Vec<String>,
    /// Map the NIC with this MAC address to network or bridge OUT.
    #[arg(long = "mac", value_name = "MAC:network|bridge:OUT")]
    mac: Vec<String>,
    /// Only check the mapping arguments (DIR is not looked at).
    #[arg(long = "check")]
    check: bool,
    /// The temp directory.
    dir: PathBuf,
}

fn main() -> ExitCode {
    const PROG: &str = "v2v-describe";
    let cli: Cli = match helper_common::parse_args(PROG, std::env::args_os()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let net = match v2v_render::network_map(&cli.network, &cli.bridge, &cli.mac) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{PROG}: error: {e}");
            return ExitCode::from(exit_code::USAGE);
        }
    };
    if cli.check {
        return ExitCode::SUCCESS;
    }
    match v2v_render::write_description(&V2vDir::new(&cli.dir), &net) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("{PROG}: warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{PROG}: error: writing description.json: {e}");
            ExitCode::from(exit_code::CONTRACT)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
