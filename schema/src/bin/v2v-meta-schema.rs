//! Print or write the contract's JSON Schemas.
//! Usage: `v2v-meta-schema [DIR]` (no DIR: list them on stdout).
fn main() {
    let dir = std::env::args_os().nth(1);
    for (name, s) in v2v_meta::schema::all() {
        let text = v2v_meta::schema::render(&s);
        match &dir {
            Some(d) => std::fs::write(std::path::Path::new(d).join(name), text)
                .unwrap_or_else(|e| panic!("writing {name}: {e}")),
            None => print!("// {name}\n{text}"),
        }
    }
}
