//! `v2v-hostile-corpus DIR`: write the hostile-input corpus of issue 11
//! (`v2v_tests::hostile`) under DIR, with `DIR/cases.json` listing each
//! case's command and expected outcome; `scripts/hostile-compare.sh`
//! runs it against our virt-v2v and another.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: v2v-hostile-corpus DIR (DIR must not exist)");
        return std::process::ExitCode::from(2);
    };
    let dir = std::path::Path::new(dir);
    if dir.exists() {
        eprintln!("v2v-hostile-corpus: {}: already exists", dir.display());
        return std::process::ExitCode::from(2);
    }
    let c = v2v_tests::hostile::write_corpus(dir);
    println!("{} cases in {}", c.cases.len(), c.root.display());
    std::process::ExitCode::SUCCESS
}
