//! `promptrefine`: see the library crate for the parts.

/// jemalloc, configured (`.cargo/config.toml`) to give freed pages back to
/// the system within about a second. glibc's malloc keeps what every
/// thread's arena once held: in the benchmark a server that had imported
/// 100,000 rows and served a few thousand runs sat at 240–290 MB, nearly all
/// of it free memory, and B7/E1 measured that instead of themselves. With
/// jemalloc the same server holds 60–80 MB (docs/benchmarks.md, session 11).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    promptrefine::run()
}
