//! The `emrlab` command: parse, load the configuration, hand over to a subcommand.

mod cli;

// mimalloc rather than the system allocator: a request allocates and frees a few hundred small
// blocks on tokio's workers and on SQLite's connection threads, and glibc's arenas showed up in
// profiles as ~15% of the CPU of a proxied read (lock contention between threads included).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
