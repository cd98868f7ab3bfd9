//! `promptrefine`: see the library crate for the parts.

fn main() -> std::process::ExitCode {
    promptrefine::run()
}
