use clap::Parser;
use helper_common::DirMode;
use v2v_meta::Step;

fn main() -> std::process::ExitCode {
    let args = helper_v2v_convert::Args::parse();
    if args.check {
        return helper_common::check_only("helper-v2v-convert", Step::Convert, || {
            helper_v2v_convert::check(&args).map(drop)
        });
    }
    helper_common::run(
        "helper-v2v-convert",
        Step::Convert,
        &args.dir,
        DirMode::Existing,
        &args.common,
        |ctx| helper_v2v_convert::run(ctx, &args),
    )
}
