//! Compiles `c/netc.c`, the C library whose blocking calls the tests make
//! cooperative through moss's patch layer.

fn main() {
    println!("cargo:rerun-if-changed=c/netc.c");
    cc::Build::new()
        .file("c/netc.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("netc");
}
