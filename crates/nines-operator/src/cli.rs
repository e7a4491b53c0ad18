//! `nines operator ...`: the seed's CLI (`crds`, `install-crds`, `run`,
//! `health`, `status`). The binary mounts [`OperatorArgs`] and calls [`run_cli`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};

use crate::crd::FIELD_MANAGER;
use crate::crdgen;
pub use crate::options::{KubeArgs, RunArgs, kube_client, kube_config};

#[derive(Debug, Clone, Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    pub command: OperatorCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OperatorCommand {
    /// Print the CRD definitions as YAML.
    Crds(CrdsArgs),
    /// Install (server-side apply) the CRDs into the cluster.
    InstallCrds(InstallCrdsArgs),
    /// Run the operator.
    Run(RunArgs),
    /// Check the health endpoint of a running operator.
    Health(HealthArgs),
    /// Show the status of every operator resource.
    Status(KubeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CrdsArgs {
    /// Only this kind (kind, plural or short name).
    #[arg(long)]
    pub kind: Option<String>,
    /// List the kinds instead of printing YAML.
    #[arg(long)]
    pub list: bool,
    /// Write one file per CRD into this directory.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct InstallCrdsArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Show what would be installed without contacting the cluster.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Base URL of the health probe endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub url: String,
}

pub async fn run_cli(args: OperatorArgs) -> anyhow::Result<()> {
    match args.command {
        OperatorCommand::Crds(a) => {
            print!("{}", crds_output(&a)?);
            Ok(())
        }
        OperatorCommand::InstallCrds(a) => install_crds(&a).await,
        OperatorCommand::Run(a) => crate::controller::run(a).await,
        OperatorCommand::Health(a) => health(&a.url).await,
        OperatorCommand::Status(a) => {
            let client = kube_client(&a).await?;
            print!("{}", crate::controller::status_report(client).await?);
            Ok(())
        }
    }
}

/// What `crds` prints (and writes, with `--output-dir`).
pub fn crds_output(a: &CrdsArgs) -> anyhow::Result<String> {
    let crds = selected(a.kind.as_deref())?;
    if a.list {
        return Ok(crdgen::list_table(&crds));
    }
    if let Some(dir) = &a.output_dir {
        let written = crdgen::write_dir(dir, &crds).with_context(|| format!("writing {}", dir.display()))?;
        return Ok(written.iter().map(|p| format!("wrote {}\n", p.display())).collect());
    }
    Ok(crdgen::to_yaml_stream(&crds))
}

fn selected(kind: Option<&str>) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    match kind {
        None => Ok(crdgen::all_crds()),
        Some(k) => crdgen::find_crd(k).map(|c| vec![c]).ok_or_else(|| {
            let kinds: Vec<String> = crdgen::all_crds().into_iter().map(|c| c.spec.names.kind).collect();
            anyhow::anyhow!("unknown kind {k:?}; known kinds: {}", kinds.join(", "))
        }),
    }
}

/// The `--dry-run` report of `install-crds`.
pub fn install_plan(crds: &[CustomResourceDefinition]) -> String {
    let mut s = String::new();
    for c in crds {
        s.push_str(&format!(
            "would apply CustomResourceDefinition {} (kind {}, {})\n",
            c.metadata.name.as_deref().unwrap_or_default(),
            c.spec.names.kind,
            c.spec.scope
        ));
    }
    s
}

async fn install_crds(a: &InstallCrdsArgs) -> anyhow::Result<()> {
    if a.dry_run {
        print!("{}", install_plan(&crdgen::all_crds()));
        return Ok(());
    }
    let client = kube_client(&a.kube).await?;
    for line in apply_crds(&client).await? {
        println!("{line}");
    }
    Ok(())
}

/// Server-side apply every CRD; returns one line per CRD applied and per CRD not yet established.
pub async fn apply_crds(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let crds = crdgen::all_crds();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut out = Vec::new();
    for c in &crds {
        let name = c.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &pp, &Patch::Apply(c)).await.with_context(|| format!("applying {name}"))?;
        out.push(format!("applied CustomResourceDefinition {name}"));
    }
    // a CRD is usable once Established; report the ones that are not yet
    let listed = api.list(&ListParams::default()).await?;
    for c in listed.items.iter().filter(|c| c.spec.group == crate::crd::GROUP) {
        let established = c
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|x| x.type_ == "Established" && x.status == "True"));
        if !established {
            out.push(format!("{} is not established yet", c.metadata.name.as_deref().unwrap_or_default()));
        }
    }
    Ok(out)
}

async fn health(url: &str) -> anyhow::Result<()> {
    let u = format!("{}/healthz", url.trim_end_matches('/'));
    let r = reqwest::Client::new().get(&u).timeout(std::time::Duration::from_secs(5)).send().await?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if status.is_success() {
        println!("healthy: {}", body.trim());
        Ok(())
    } else {
        anyhow::bail!("unhealthy ({status}): {}", body.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: Cmd,
    }
    #[derive(Subcommand)]
    enum Cmd {
        Operator(OperatorArgs),
    }

    fn parse(args: &[&str]) -> OperatorCommand {
        let Cmd::Operator(o) = Top::try_parse_from([&["nines", "operator"], args].concat()).unwrap().cmd;
        o.command
    }

    #[test]
    fn the_seed_commands_parse() {
        assert!(matches!(
            parse(&["crds", "--kind", "Organization"]),
            OperatorCommand::Crds(CrdsArgs { kind: Some(_), .. })
        ));
        assert!(matches!(parse(&["crds", "--list"]), OperatorCommand::Crds(CrdsArgs { list: true, .. })));
        assert!(matches!(
            parse(&["install-crds", "--dry-run"]),
            OperatorCommand::InstallCrds(InstallCrdsArgs { dry_run: true, .. })
        ));
        let OperatorCommand::Run(r) = parse(&["run", "--leader-elect", "--kubeconfig", "/k"]) else { panic!() };
        assert!(r.leader_elect);
        assert_eq!(r.metrics_bind_address, ":8080");
        assert_eq!(r.health_probe_bind_address, ":8081");
        let OperatorCommand::Health(h) = parse(&["health", "--url", "http://op:8081"]) else { panic!() };
        assert_eq!(h.url, "http://op:8081");
        assert!(matches!(parse(&["status"]), OperatorCommand::Status(_)));
    }

    #[test]
    fn crds_output_modes() {
        let one = crds_output(&CrdsArgs { kind: Some("opcfg".into()), list: false, output_dir: None }).unwrap();
        assert!(one.starts_with("---\n") && one.contains("name: operatorconfigs.nines.dev"));
        assert_eq!(one.matches("---\n").count(), 1);
        let list = crds_output(&CrdsArgs { kind: None, list: true, output_dir: None }).unwrap();
        assert_eq!(list.lines().count(), 18);
        let err = crds_output(&CrdsArgs { kind: Some("Nope".into()), list: false, output_dir: None }).unwrap_err();
        assert!(err.to_string().starts_with("unknown kind \"Nope\"; known kinds: OperatorConfig, Endpoint"));
        let dir = std::env::temp_dir().join(format!("nines-crds-{}", std::process::id()));
        let out = crds_output(&CrdsArgs { kind: None, list: false, output_dir: Some(dir.clone()) }).unwrap();
        assert_eq!(out.lines().count(), 17);
        assert!(dir.join("endpoints.nines.dev.yaml").exists());
        std::fs::remove_dir_all(dir).unwrap();
        let plan = install_plan(&crdgen::all_crds());
        assert!(plan.contains("would apply CustomResourceDefinition artifacts.nines.dev (kind Artifact, Cluster)"));
    }
}
