//! The `regent` binary: parse the command line, run it, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    regent_control_plane::cli::main()
}
