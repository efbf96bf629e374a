fn main() -> std::process::ExitCode {
    virt_v2v::in_place::main()
}
