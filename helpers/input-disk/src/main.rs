const PROGRAM: &str = "helper-v2v-input-disk";

fn main() -> std::process::ExitCode {
    let args: input_disk::Args = v2v_input_kit::step::parse_args(PROGRAM);
    v2v_input_kit::step::run_input(
        PROGRAM,
        &args.dir,
        &args.common,
        args.input.check,
        || input_disk::check(&args),
        |ctx| input_disk::run(ctx, &args),
    )
}
