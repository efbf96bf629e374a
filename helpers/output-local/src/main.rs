use output_local::{Args, Cmd, PROG};
use v2v_meta::Step;

fn main() -> std::process::ExitCode {
    let args: Args = match helper_common::parse_args(PROG, std::env::args_os()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (step, dir, common) = match &args.cmd {
        Cmd::Check(a) => return output_local::check(a),
        Cmd::Setup(a) => (Step::OutputSetup, &a.dir, &a.common),
        Cmd::Final { dir, common } => (Step::OutputFinal, dir, common),
    };
    helper_common::run(
        PROG,
        step,
        dir,
        helper_common::DirMode::Existing,
        common,
        |ctx| output_local::run(ctx, &args.cmd),
    )
}
