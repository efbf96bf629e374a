use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = output_local::Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    let (step, dir, common) = args.cmd.step_dir_common();
    helper_common::run(
        "helper-v2v-output-local",
        step,
        &dir,
        helper_common::DirMode::Existing,
        &common,
        |ctx| output_local::run(ctx, &args.cmd),
    )
}
