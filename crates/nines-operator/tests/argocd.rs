//! The Argo CD client against the stateful double of
//! `common/argocd_double.rs`, which answers as Argo CD's REST API does and
//! holds every request and answer to Argo CD's published document: each
//! test ends with no exchange outside it.

mod common;
mod fake_kube;

use std::time::Duration;

use common::argocd_double::ArgoCdDouble;
use nines_operator::mapping::tenant::project_policy;
use nines_operator::provision::argocd::{
    ArgoCdClient, CONFIG_DIGEST, Destination, ProjectSpecWanted, RoleWanted, ca_data_base64,
};
use nines_operator::provision::{CREATED_BY, ErrorKind, Outcome, System};
use serde_json::{Value, json};

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

fn wanted(name: &str) -> ProjectSpecWanted {
    ProjectSpecWanted {
        name: name.into(),
        description: format!("{name} (managed by nines)"),
        source_repos: vec![format!("https://git.example.com/{name}/*")],
        destinations: vec![Destination::server(IN_CLUSTER, &format!("{name}-*"))],
        roles: vec![
            RoleWanted {
                name: "developers".into(),
                description: "deploy".into(),
                policies: vec![
                    project_policy("p, proj:{project}:developers, applications, *, {project}/*, allow", name),
                    // as a platform might write it: Argo CD rewrites the spacing
                    project_policy("p,proj:{project}:developers,logs,get,{project}/*,allow", name),
                ],
                groups: vec![format!("{name}-developers")],
            },
            RoleWanted {
                name: "viewers".into(),
                description: "read".into(),
                policies: vec![project_policy(
                    "p, proj:{project}:viewers, applications, get, {project}/*, allow",
                    name,
                )],
                groups: vec![format!("{name}-viewers")],
            },
        ],
        revoke: Default::default(),
    }
}

fn role<'a>(project: &'a Value, name: &str) -> &'a Value {
    project["spec"]["roles"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()
}

#[tokio::test]
async fn check_names_the_account() {
    let argo = ArgoCdDouble::start().await;
    assert_eq!(argo.client().check().await.unwrap(), "nines");
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_rejected_token_is_unauthorized() {
    let argo = ArgoCdDouble::start().await;
    let client = ArgoCdClient::new(&argo.url, "not-the-token");
    // userinfo answers 200 with loggedIn: false
    let err = client.check().await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::ArgoCd, ErrorKind::Unauthorized));
    assert!(err.message.contains("not logged in"), "{err}");
    assert_eq!(argo.requests()[0].status, 200);
    // everything else answers 401
    let err = client.ensure_project(&wanted("acme")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.message.contains("401 Unauthorized (invalid session: token signature is invalid)"), "{err}");
    assert!(argo.project("acme").is_none());
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_project_is_created_labelled_then_left_alone() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    assert_eq!(client.ensure_project(&wanted("acme")).await.unwrap(), Outcome::Created);
    let stored = argo.project("acme").unwrap();
    assert_eq!(stored["metadata"]["labels"][CREATED_BY], "nines");
    assert_eq!(stored["spec"]["sourceRepos"], json!(["https://git.example.com/acme/*"]));
    assert_eq!(stored["spec"]["destinations"], json!([{"server": IN_CLUSTER, "namespace": "acme-*"}]));
    assert_eq!(
        role(&stored, "developers")["policies"],
        json!([
            "p, proj:acme:developers, applications, *, acme/*, allow",
            "p, proj:acme:developers, logs, get, acme/*, allow",
        ])
    );
    assert_eq!(role(&stored, "viewers")["groups"], json!(["acme-viewers"]));
    let post = argo.requests().into_iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(post.body.as_ref().unwrap()["upsert"], false);
    let read = client.project("acme").await.unwrap().unwrap();
    assert!(ArgoCdClient::created_by_nines(&read));

    // the second pass reads once and writes nothing, though the policies
    // were given in another spacing than Argo CD keeps
    argo.reset_requests();
    assert_eq!(client.ensure_project(&wanted("acme")).await.unwrap(), Outcome::Unchanged);
    assert_eq!(argo.counts(), [("GET".to_string(), 1)].into(), "{:?}", argo.requests());
    argo.assert_no_violations();
}

#[tokio::test]
async fn an_update_changes_only_what_nines_owns_and_keeps_tokens() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    client.ensure_project(&wanted("acme")).await.unwrap();
    // what others did since: a token for nines' role and for one of theirs,
    // a sync window, a label
    let mut stored = argo.project("acme").unwrap();
    stored["spec"]["syncWindows"] = json!([{"kind": "deny", "schedule": "0 22 * * *", "duration": "8h"}]);
    stored["spec"]["roles"].as_array_mut().unwrap().push(json!({
        "name": "ci", "policies": ["p, proj:acme:ci, applications, sync, acme/*, allow"]
    }));
    stored["metadata"]["labels"]["team"] = json!("payments");
    argo.seed_project(stored);
    argo.issue_token("acme", "developers", "tok-dev", 1_767_225_600);
    argo.issue_token("acme", "ci", "tok-ci", 1_767_225_601);
    let before = argo.project("acme").unwrap();

    let mut next = wanted("acme");
    next.description = "Acme, renamed".into();
    next.source_repos.push("https://charts.example.com/acme".into());
    next.roles[0].groups = vec!["acme-developers".into(), "acme-oncall".into()];
    argo.reset_requests();
    assert_eq!(client.ensure_project(&next).await.unwrap(), Outcome::Updated);
    let put = argo.requests().into_iter().find(|s| s.method == "PUT").unwrap();
    assert_eq!(put.path, "/api/v1/projects/acme");
    assert_eq!(
        put.body.as_ref().unwrap()["project"]["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"],
        "the resourceVersion of the read goes back"
    );

    let after = argo.project("acme").unwrap();
    assert_eq!(after["spec"]["description"], "Acme, renamed");
    assert_eq!(after["spec"]["sourceRepos"].as_array().unwrap().len(), 2);
    assert_eq!(role(&after, "developers")["groups"], json!(["acme-developers", "acme-oncall"]));
    // tokens exactly as they were, in nines' role and in the other one
    assert_eq!(role(&after, "developers")["jwtTokens"], role(&before, "developers")["jwtTokens"]);
    assert_eq!(role(&after, "developers")["jwtTokens"], json!([{"iat": 1_767_225_600i64, "id": "tok-dev"}]));
    assert_eq!(role(&after, "ci"), role(&before, "ci"));
    assert_eq!(after["status"], before["status"]);
    assert_eq!(after["spec"]["syncWindows"], before["spec"]["syncWindows"]);
    assert_eq!(after["metadata"]["labels"]["team"], "payments");
    assert_eq!(after["metadata"]["labels"][CREATED_BY], "nines");
    assert_ne!(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

    argo.reset_requests();
    assert_eq!(client.ensure_project(&next).await.unwrap(), Outcome::Unchanged);
    assert_eq!(argo.writes(), 0);
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_concurrent_write_is_transient_and_the_next_pass_succeeds() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    client.ensure_project(&wanted("acme")).await.unwrap();
    let mut next = wanted("acme");
    next.description = "changed".into();
    argo.write_after_next_read("acme");
    let err = client.ensure_project(&next).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("409 Conflict"), "{err}");
    assert!(err.message.contains("read again on the next attempt"), "{err}");
    assert_eq!(argo.project("acme").unwrap()["spec"]["description"], "acme (managed by nines)");
    assert_eq!(client.ensure_project(&next).await.unwrap(), Outcome::Updated);
    assert_eq!(argo.project("acme").unwrap()["spec"]["description"], "changed");
    argo.assert_no_violations();
}

#[tokio::test]
async fn an_existing_project_is_adopted_without_nines_label() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    argo.seed_project(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": IN_CLUSTER, "namespace": "*"}],
            "roles": [{"name": "admins", "policies": ["p, proj:legacy:admins, *, *, legacy/*, allow"]}],
        },
    }));
    assert_eq!(client.ensure_project(&wanted("legacy")).await.unwrap(), Outcome::Adopted);
    let after = argo.project("legacy").unwrap();
    assert!(after["metadata"].get("labels").is_none(), "nines labels only what it creates");
    assert_eq!(after["spec"]["sourceRepos"], json!(["https://git.example.com/legacy/*"]));
    let names: Vec<&str> =
        after["spec"]["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admins", "developers", "viewers"], "a role nines does not name stays");
    assert!(!ArgoCdClient::created_by_nines(&client.project("legacy").await.unwrap().unwrap()));

    argo.reset_requests();
    assert_eq!(client.ensure_project(&wanted("legacy")).await.unwrap(), Outcome::Adopted);
    assert_eq!(argo.writes(), 0);
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_project_created_meanwhile_is_adopted_from_the_refusal() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    argo.seed_project(json!({"metadata": {"name": "acme"}, "spec": {"description": "someone else's"}}));
    // the first read misses it, as if it was created right after
    argo.fail_next_matching(Some("GET"), "/api/v1/projects/acme", 404, 1, None);
    assert_eq!(client.ensure_project(&wanted("acme")).await.unwrap(), Outcome::Adopted);
    let statuses: Vec<(String, u16)> = argo.requests().iter().map(|s| (s.method.clone(), s.status)).collect();
    // Argo CD says 400 "existing project spec is different" to a create
    // without upsert
    assert_eq!(statuses, [("GET".into(), 404), ("POST".into(), 400), ("GET".into(), 200), ("PUT".into(), 200)]);
    assert_eq!(argo.project("acme").unwrap()["spec"]["description"], "acme (managed by nines)");
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_project_hidden_by_rbac_is_unauthorized_not_absent() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    argo.hide_project("ghost");
    let err = client.project("ghost").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.message.contains("403 Forbidden (permission denied)"), "{err}");
    assert!(err.message.contains("RBAC"), "{err}");
    let err = client.ensure_project(&wanted("ghost")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert_eq!(argo.writes(), 0);
    assert!(argo.project("ghost").is_none());
    argo.assert_no_violations();
}

#[tokio::test]
async fn an_invalid_policy_is_refused_in_argos_words() {
    let argo = ArgoCdDouble::start().await;
    let mut bad = wanted("acme");
    bad.roles[0].policies = vec!["p, proj:other:developers, applications, get, other/*, allow".into()];
    let err = argo.client().ensure_project(&bad).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("policy subject must be: 'proj:acme:developers'"), "{err}");
    argo.assert_no_violations();
}

#[tokio::test]
async fn deleting_a_project_in_use_is_blocked_until_its_applications_go() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    client.ensure_project(&wanted("acme")).await.unwrap();
    argo.add_application("acme-web", "acme");
    argo.add_application("acme-api", "acme");
    let err = client.delete_project("acme").await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::ArgoCd, ErrorKind::Blocked));
    assert!(err.message.contains("project is referenced by 2 applications"), "{err}");
    assert!(argo.project("acme").is_some());

    argo.remove_application("acme-web");
    argo.remove_application("acme-api");
    assert!(client.delete_project("acme").await.unwrap());
    assert!(argo.project("acme").is_none());
    assert!(!client.delete_project("acme").await.unwrap(), "a second delete meets a 404");

    let err = client.delete_project("default").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    argo.assert_no_violations();
}

#[tokio::test]
async fn unavailable_and_rate_limited_answers_are_transient() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    argo.fail_next(1, 503);
    let err = client.ensure_project(&wanted("acme")).await.unwrap_err();
    assert_eq!((err.kind, err.retry_after), (ErrorKind::Transient, None));
    argo.fail_next_matching(None, "/", 429, 1, Some("30"));
    let err = client.check().await.unwrap_err();
    assert_eq!((err.kind, err.retry_after), (ErrorKind::Transient, Some(Duration::from_secs(30))));
    argo.fail_next_matching(Some("POST"), "/api/v1/projects", 502, 1, Some("3"));
    let err = client.ensure_project(&wanted("acme")).await.unwrap_err();
    assert_eq!((err.kind, err.retry_after), (ErrorKind::Transient, Some(Duration::from_secs(3))));
    assert!(err.message.starts_with(r#"creating project "acme": 502 Bad Gateway"#), "{err}");

    argo.set_down(true);
    assert_eq!(client.project("acme").await.unwrap_err().kind, ErrorKind::Transient);
    argo.set_down(false);
    argo.go_offline().await;
    let err = client.project("acme").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("unreachable"), "{err}");
    argo.come_online().await;
    assert_eq!(client.ensure_project(&wanted("acme")).await.unwrap(), Outcome::Created);
    argo.assert_no_violations();
}

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n";

#[tokio::test]
async fn clusters_are_registered_once_and_rewritten_when_credentials_change() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    let server = "https://k8s.prod.example.com:6443";
    assert_eq!(client.ensure_cluster("prod", server, "sa-token-1", Some(CA_PEM)).await.unwrap(), Outcome::Created);
    let stored = argo.cluster(server).unwrap();
    assert_eq!(stored["name"], "prod");
    assert_eq!(stored["config"]["bearerToken"], "sa-token-1");
    assert_eq!(stored["config"]["tlsClientConfig"]["caData"], ca_data_base64(CA_PEM).unwrap());
    assert_eq!(stored["config"]["tlsClientConfig"]["insecure"], false);
    assert_eq!(stored["labels"][CREATED_BY], "nines");
    let post = argo.requests().into_iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(post.query, "upsert=true");
    // the token is never read back
    let read = argo.requests().into_iter().find(|s| s.method == "GET").unwrap();
    assert_eq!(read.path, "/api/v1/clusters/https%3A%2F%2Fk8s.prod.example.com%3A6443");
    assert_eq!(read.status, 403, "Argo CD hides an unknown cluster");

    argo.reset_requests();
    assert_eq!(client.ensure_cluster("prod", server, "sa-token-1", Some(CA_PEM)).await.unwrap(), Outcome::Unchanged);
    assert_eq!((argo.count("GET"), argo.writes()), (1, 0));

    // a rotated token is written, settings made outside nines are kept
    let mut outside = argo.cluster(server).unwrap();
    outside["namespaces"] = json!(["apps"]);
    outside["labels"]["env"] = json!("prod");
    argo.seed_cluster(outside);
    assert_eq!(client.ensure_cluster("prod", server, "sa-token-2", Some(CA_PEM)).await.unwrap(), Outcome::Updated);
    let stored = argo.cluster(server).unwrap();
    assert_eq!(stored["config"]["bearerToken"], "sa-token-2");
    assert_eq!(stored["namespaces"], json!(["apps"]));
    assert_eq!(stored["labels"], json!({CREATED_BY: "nines", "env": "prod"}));
    assert!(stored["annotations"][CONFIG_DIGEST].is_string());
    assert!(stored.get("connectionState").is_none(), "what Argo CD computes is not sent back");

    // a CA given as base64 of the PEM is the same CA
    assert_eq!(
        client.ensure_cluster("prod", server, "sa-token-2", Some(&ca_data_base64(CA_PEM).unwrap())).await.unwrap(),
        Outcome::Unchanged
    );
    let err = client.ensure_cluster("prod", server, "t", Some("not a certificate")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    argo.assert_no_violations();
}

#[tokio::test]
async fn a_cluster_registered_elsewhere_is_adopted() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    let server = "https://k8s.staging.example.com";
    argo.seed_cluster(json!({"name": "staging", "server": server, "config": {"bearerToken": "old"}}));
    assert_eq!(client.ensure_cluster("staging", server, "new", None).await.unwrap(), Outcome::Adopted);
    let stored = argo.cluster(server).unwrap();
    assert_eq!(stored["config"]["bearerToken"], "new");
    assert!(stored.get("labels").is_none_or(|l| l.get(CREATED_BY).is_none()));
    argo.reset_requests();
    assert_eq!(client.ensure_cluster("staging", server, "new", None).await.unwrap(), Outcome::Adopted);
    assert_eq!(argo.writes(), 0);
    argo.assert_no_violations();
}

#[tokio::test]
async fn clusters_are_deleted_by_their_encoded_server_url() {
    let argo = ArgoCdDouble::start().await;
    let client = argo.client();
    let server = "https://k8s.prod.example.com:6443/some/path";
    client.ensure_cluster("prod", server, "t", None).await.unwrap();
    argo.reset_requests();
    assert!(client.delete_cluster(server).await.unwrap());
    assert!(argo.cluster(server).is_none());
    assert_eq!(argo.requests()[0].path, "/api/v1/clusters/https%3A%2F%2Fk8s.prod.example.com%3A6443%2Fsome%2Fpath");
    // gone: Argo CD says 403, the list settles it
    assert!(!client.delete_cluster(server).await.unwrap());
    argo.assert_no_violations();
}

#[tokio::test]
async fn the_double_holds_requests_to_the_document() {
    // the guard the other tests rely on: a request Argo CD's document does
    // not declare is a violation
    let argo = ArgoCdDouble::start().await;
    argo.client().ensure_project(&wanted("acme")).await.unwrap();
    argo.assert_no_violations();
    let mut project = argo.project("acme").unwrap();
    project["spec"]["descripton"] = json!("a typo");
    let http = reqwest::Client::new();
    let resp = http
        .put(format!("{}/api/v1/projects/acme", argo.url))
        .bearer_auth(&argo.token)
        .json(&json!({"project": project, "upsert": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let violations = argo.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("not a declared property"), "{violations:?}");

    let resp = http.get(format!("{}/api/v1/projects/acme", argo.url)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http.delete(format!("{}/api/v1/nothing-here", argo.url)).bearer_auth(&argo.token).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(argo.violations().iter().any(|v| v.contains("/api/v1/nothing-here")), "{:?}", argo.violations());
}
