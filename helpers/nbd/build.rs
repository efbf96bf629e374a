//! Link against the system libnbd (Debian 12: libnbd-dev 1.14).
//!
//! We do not run bindgen: the `extern "C"` declarations in `src/sys.rs` are
//! written by hand from `/usr/include/libnbd.h`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match pkg_config::Config::new()
        .atleast_version("1.14")
        .probe("libnbd")
    {
        Ok(_) => {}
        Err(e) => {
            // pkg-config (the program) or libnbd.pc may be missing even when
            // the library itself is installed; fall back to a plain -lnbd so
            // the linker gives the definitive answer.
            println!("cargo:warning=pkg-config could not find libnbd >= 1.14 ({e}); trying -lnbd");
            println!("cargo:rustc-link-lib=nbd");
        }
    }
}
