use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cleanup::ResumeArgs::parse_from(helper_common::virt_v2v_args(std::env::args_os()));
    helper_common::run(
        "helper-v2v-resume",
        v2v_meta::Step::Input,
        &args.dir.clone(),
        helper_common::DirMode::Existing,
        &args.common.clone(),
        cleanup::kept::serve,
    )
}
