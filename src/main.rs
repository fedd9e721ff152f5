//! The `emrlab` command: parse, load the configuration, hand over to a subcommand.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
