//! Link against the system libguestfs (Debian 12: libguestfs-dev 1.48).
//!
//! No bindgen: the `extern "C"` declarations in `src/sys.rs` are written by
//! hand from `/usr/include/guestfs.h`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.48")
        .probe("libguestfs")
    {
        println!(
            "cargo:warning=pkg-config could not find libguestfs >= 1.48 ({e}); trying -lguestfs"
        );
        println!("cargo:rustc-link-lib=guestfs");
    }
}
