use clap::Parser;
use helper_common::DirMode;
use v2v_meta::Step;

fn main() -> std::process::ExitCode {
    let args = input_vmx::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    helper_common::run(
        "helper-v2v-input-vmx",
        Step::Input,
        &args.dir,
        DirMode::Create,
        &args.common,
        |ctx| input_vmx::run(ctx, &args),
    )
}
