fn main() -> std::process::ExitCode {
    virt_v2v::inspector::main()
}
