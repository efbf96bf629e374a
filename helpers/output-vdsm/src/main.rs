fn main() -> std::process::ExitCode {
    helper_common::output::main::<output_vdsm::Vdsm>()
}
