//! The `moss` binary: a gunicorn-style pre-fork HTTP server serving a demo app (`moss --help`).
//!
//! ```sh
//! cargo run --release -- -w 2 -k green hello
//! ```

fn main() -> std::process::ExitCode {
    moss::server::main()
}
