use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = input_disk::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    helper_common::run(
        "helper-v2v-input-disk",
        v2v_meta::Step::Input,
        &args.dir.clone(),
        helper_common::DirMode::Create,
        &args.common.clone(),
        |ctx| input_disk::run(ctx, &args),
    )
}
