const PROGRAM: &str = "helper-v2v-input-vmx";

fn main() -> std::process::ExitCode {
    let args: input_vmx::Args = v2v_input_kit::step::parse_args(PROGRAM);
    v2v_input_kit::step::run_input(
        PROGRAM,
        &args.dir,
        &args.common,
        args.input.check,
        || input_vmx::check(&args).map(drop),
        |ctx| input_vmx::run(ctx, &args),
    )
}
