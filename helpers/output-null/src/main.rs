use output_null::{Args, Cmd, PROG};
use v2v_meta::Step;

fn main() -> std::process::ExitCode {
    let args: Args = match helper_common::parse_args(PROG, std::env::args_os()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (step, dir, common) = match &args.cmd {
        Cmd::Check(a) => return output_null::check(a),
        Cmd::Setup(a) => (Step::OutputSetup, &a.dir, &a.common),
        Cmd::Final { dir, common } => (Step::OutputFinal, dir, common),
    };
    helper_common::run(
        PROG,
        step,
        dir,
        helper_common::DirMode::Existing,
        common,
        |ctx| output_null::run(ctx, &args.cmd),
    )
}
