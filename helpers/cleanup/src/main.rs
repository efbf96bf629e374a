use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cleanup::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    helper_common::run(
        "helper-v2v-cleanup",
        v2v_meta::Step::Cleanup,
        &args.dir.clone(),
        helper_common::DirMode::Existing,
        &args.common.clone(),
        |ctx| cleanup::run(ctx, &args),
    )
}
