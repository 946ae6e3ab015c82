//! `barge kubectl` (and the `barge` binary invoked as `kubectl` through a symlink): the
//! commands users run every day, on kube-rs, reading the same kubeconfig as kubectl
//! (`KUBECONFIG`, `--kubeconfig`, `--context`, `-n`, `-A`) and printing what kubectl 1.32
//! prints (the same columns, messages and exit codes), so that scripts and habits carry over.
//!
//! One module per command family, each with its clap subcommands and a `run`: [`get`] (with
//! [`printer`]: kubectl's tabwriter and go-yaml output), [`describe`], [`everyday`] (delete,
//! scale, rollout, logs, wait, auth), [`write`] (apply, create, label, annotate, patch, run,
//! expose). Tables come from the server (`as=Table`), as kubectl's do, so every kind prints
//! with upstream's columns. Resource words (`po`, `deploy`, `deployments.apps`) are resolved
//! through aggregated discovery ([`resources`]).
//!
//! Errors print as kubectl's (`Error from server (NotFound): pods "x" not found`) and exit 1.

pub mod args;
pub mod context;
pub mod describe;
pub mod error;
pub mod everyday;
pub mod explain;
pub mod flags;
pub mod get;
pub mod printer;
pub mod resources;
pub mod write;

use std::ffi::OsString;

use clap::{CommandFactory, Parser, Subcommand};

pub use context::{Context, GlobalArgs};
pub use error::{Error, Result};

/// The Kubernetes version this client speaks.
pub const VERSION: &str = "v1.32.4";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl",
    about = "kubectl controls the Kubernetes cluster manager (barge kubectl: the everyday commands, in Rust).",
    disable_version_flag = true
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Describe(describe::Commands),
    #[command(flatten)]
    Everyday(everyday::Commands),
    /// Get documentation for a resource.
    Explain(explain::Args),
    /// Print the client and server version information.
    Version,
    #[command(flatten)]
    Get(get::Commands),
    #[command(flatten)]
    Write(write::Commands),
}

/// Runs kubectl with `args` (without the program name); the process's exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let valued = |w: &OsString| {
        w.to_str()
            .is_some_and(|w| w.starts_with("--") && w.contains('='))
    };
    if args.iter().any(valued) {
        args = match flags::normalize(&Cli::command(), args) {
            Ok(args) => args,
            Err(message) => {
                eprintln!("{message}");
                return 1;
            }
        };
    }
    let argv = std::iter::once(OsString::from("kubectl")).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            match flags::cobra_error(&Cli::command(), &args, &e) {
                Some(message) => eprintln!("{message}"),
                None => {
                    let _ = e.print();
                }
            }
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(run(cli));
    // A read of standard input may still be blocked in a thread (`exec -i`); it is not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(e) => {
            if !matches!(e, Error::Reported) {
                eprintln!("{e}");
            }
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Everyday(c) => everyday::run(c, &cli.global).await,
        Command::Explain(a) => explain::run(a, &cli.global).await,
        Command::Version => version(&cli.global).await,
        Command::Describe(c) => describe::run(c, &cli.global).await,
        Command::Write(c) => write::run(c, &cli.global).await,
        Command::Get(c) => get::run(c, &cli.global).await,
    }
}

/// `kubectl version`: the client's version, then the server's (`/version`).
async fn version(global: &GlobalArgs) -> Result<()> {
    println!("Client Version: {VERSION}");
    let ctx = Context::new(global).await?;
    let info = ctx.client.apiserver_version().await?;
    println!("Server Version: {}", info.git_version);
    Ok(())
}
