const PROGRAM: &str = "helper-v2v-input-ova";

fn main() -> std::process::ExitCode {
    let args: input_ova::Args = v2v_input_kit::step::parse_args(PROGRAM);
    v2v_input_kit::step::run_input(
        PROGRAM,
        &args.dir,
        &args.common,
        args.input.check,
        || input_ova::check(&args).map(drop),
        |ctx| input_ova::run(ctx, &args),
    )
}
