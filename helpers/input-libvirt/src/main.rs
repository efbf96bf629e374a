const PROGRAM: &str = "helper-v2v-input-libvirt";

fn main() -> std::process::ExitCode {
    let args: input_libvirt::Args = v2v_input_kit::step::parse_args(PROGRAM);
    v2v_input_kit::step::run_input(
        PROGRAM,
        &args.dir,
        &args.common,
        args.input.check,
        || input_libvirt::check(&args),
        |ctx| input_libvirt::run(ctx, &args),
    )
}
