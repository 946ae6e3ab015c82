//! Where a command runs: the kubeconfig (`--kubeconfig`, else `KUBECONFIG`'s files merged, else
//! `~/.kube/config`), its context (`--context`, else the current one), the namespace (`-n`,
//! else the context's, else `default`), and the client built from them.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// kubectl's global flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
}

/// The kubeconfig as kubectl would read it.
pub fn kubeconfig(args: &GlobalArgs) -> Result<Kubeconfig> {
    let read = |path: &PathBuf| {
        Kubeconfig::read_from(path).map_err(|e| Error::client(format!("{}: {e}", path.display())))
    };
    if let Some(path) = &args.kubeconfig {
        return read(path);
    }
    if let Some(paths) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(&paths).filter(|p| p.exists()) {
            let next = read(&path)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m
                    .merge(next)
                    .map_err(|e| Error::client(format!("{}: {e}", path.display())))?,
            });
        }
        if let Some(m) = merged {
            return Ok(m);
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let default = home.join(".kube").join("config");
    if default.exists() {
        return read(&default);
    }
    Err(Error::client(
        "no configuration has been provided, try setting KUBERNETES_MASTER environment variable",
    ))
}

/// A client for the chosen context, and the namespace commands default to.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub namespace: String,
    /// Whether `-n` was given (some messages say so).
    pub explicit_namespace: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub async fn new(args: &GlobalArgs) -> Result<Self> {
        let kubeconfig = kubeconfig(args)?;
        let options = KubeConfigOptions {
            context: args.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| Error::client(e.to_string()))?;
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| Error::client(e.to_string()))?;
        Ok(Self {
            client,
            namespace,
            explicit_namespace: args.namespace.is_some(),
        })
    }
}
