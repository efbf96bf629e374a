use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = output_null::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    let step = args.phase.step();
    helper_common::run(
        "helper-v2v-output-null",
        step,
        &args.dir.clone(),
        helper_common::DirMode::Existing,
        &args.common.clone(),
        |ctx| output_null::run(ctx, args.phase),
    )
}
