//! The `msa-gen` binary: see [`msa_gen::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    msa_gen::cli::run(msa_gen::cli::Cli::parse())
}
