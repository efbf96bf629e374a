const PROGRAM: &str = "helper-v2v-input-libvirtxml";

fn main() -> std::process::ExitCode {
    let args: input_libvirtxml::Args = v2v_input_kit::step::parse_args(PROGRAM);
    v2v_input_kit::step::run_input(
        PROGRAM,
        &args.dir,
        &args.common,
        args.input.check,
        || input_libvirtxml::check(&args).map(drop),
        |ctx| input_libvirtxml::run(ctx, &args),
    )
}
