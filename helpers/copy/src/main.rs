use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = helper_v2v_copy::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    helper_v2v_copy::main(&args)
}
