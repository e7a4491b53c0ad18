//! What the operator is told: the cluster to talk to ([`KubeArgs`], the
//! client built from it) and the options of `nines operator run`
//! ([`RunArgs`]). The command line (`cli`) parses them; the controllers
//! (`controller`) run with them; neither imports the other for this.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Elect a leader through a Lease (for more than one replica).
    #[arg(long, env = "NINES_OPERATOR_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Address of /metrics.
    #[arg(long, default_value = ":8080")]
    pub metrics_bind_address: String,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = ":8081")]
    pub health_probe_bind_address: String,
    /// Namespace of the OperatorConfig `default` and the Lease (default: the pod's namespace, else `nines`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "nines")]
    pub namespace: String,
}

pub async fn kube_client(a: &KubeArgs) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(kube_config(a).await?)?)
}

/// The client configuration: the kubeconfig named, else inferred (in-cluster or `~/.kube/config`).
pub async fn kube_config(a: &KubeArgs) -> anyhow::Result<kube::Config> {
    Ok(match &a.kubeconfig {
        Some(path) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await.context("no kubeconfig and not in a cluster")?,
    })
}
