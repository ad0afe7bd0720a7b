//! `agora-audit-verify`: checks an Agora audit export or published checkpoint with nothing but
//! the files and the signer's public key: no database, no network.
//!
//! Prints `OK: ...` and exits 0 when everything verifies; prints `FAILED: <reason>` to stderr and
//! exits 1 otherwise (2 for a usage error).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agora_audit::{read_checkpoint_file, verify_export, ProofError, PublicKey};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agora-audit-verify",
    version,
    about = "Verifies Agora audit exports and checkpoints offline, with the signer's public key"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verifies an export directory (events.jsonl, manifest.json, manifest.sig).
    Export {
        /// The export directory.
        dir: PathBuf,
        /// The signer's Ed25519 public key: 64 hex characters, or a file holding them.
        #[arg(long, value_name = "HEX|FILE")]
        public_key: String,
    },
    /// Verifies a published checkpoint file: its signature and that its heads recompute.
    Checkpoint {
        /// The checkpoint-*.json file.
        file: PathBuf,
        /// The signer's Ed25519 public key: 64 hex characters, or a file holding them.
        #[arg(long, value_name = "HEX|FILE")]
        public_key: String,
    },
}

fn export(dir: &Path, public_key: &str) -> Result<String, ProofError> {
    let key = PublicKey::from_arg(public_key)?;
    let report = verify_export(dir, &key)?;
    Ok(format!(
        "OK: {} events in {} streams, signed by key {}",
        report.events,
        report.streams,
        key.key_id()
    ))
}

fn checkpoint(file: &Path, public_key: &str) -> Result<String, ProofError> {
    let key = PublicKey::from_arg(public_key)?;
    let published = read_checkpoint_file(file)?;
    published.verify(&key)?;
    let checkpoint = &published.checkpoint;
    Ok(format!(
        "OK: checkpoint of {} events in {} streams at {}, Merkle root {}, signed by key {}",
        checkpoint.events,
        checkpoint.streams,
        checkpoint
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        checkpoint.merkle_root,
        key.key_id()
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Export { dir, public_key } => export(dir, public_key),
        Command::Checkpoint { file, public_key } => checkpoint(file, public_key),
    };
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
