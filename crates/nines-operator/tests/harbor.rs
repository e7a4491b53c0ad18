//! The Harbor client against the stateful double of
//! `common/harbor_double.rs`, which answers as Harbor's API v2.0 does and
//! holds every request and answer to Harbor's published document: each test
//! ends with no exchange outside it, and no request carrying a cookie.

mod common;
mod fake_kube;

use std::time::Duration;

use common::harbor_double::{API, HarborDouble};
use nines_operator::mapping::tenant::{harbor_role_id, quantity_bytes};
use nines_operator::provision::harbor::{HarborClient, UNLIMITED};
use nines_operator::provision::{ErrorKind, Outcome, System};

#[tokio::test]
async fn check_names_the_account() {
    let harbor = HarborDouble::start().await;
    assert_eq!(harbor.client().check().await.unwrap(), "nines");
    // a base URL given with the API prefix works the same
    let with_prefix = HarborClient::new(&format!("{}{API}/", harbor.url), &harbor.username, &harbor.password);
    assert_eq!(with_prefix.check().await.unwrap(), "nines");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let harbor = HarborDouble::start().await;
    let client = HarborClient::new(&harbor.url, &harbor.username, "wrong");
    let err = client.check().await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::Harbor, ErrorKind::Unauthorized));
    assert!(err.message.contains("401 Unauthorized (unauthorized); the username or password is wrong"), "{err}");
    let err = client.ensure_project("acme", false, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert!(harbor.project("acme").is_none());
    harbor.assert_no_violations();
}

#[tokio::test]
async fn a_project_is_created_with_its_quota_then_left_alone() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    let quota = quantity_bytes("50Gi").unwrap();
    let (project, outcome) = client.ensure_project("acme", false, Some(quota)).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(project.name, "acme");
    assert!(!project.public);
    assert!(client.created_by_nines(&project));
    let stored = harbor.project("acme").unwrap();
    assert_eq!(project.project_id, stored.id, "the id comes from the Location header");
    assert_eq!(harbor.storage_quota("acme"), Some(53_687_091_200));
    // created in one POST carrying the limit
    let posts: Vec<_> = harbor.requests().into_iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body.as_ref().unwrap()["storage_limit"], 53_687_091_200i64);
    assert_eq!(posts[0].body.as_ref().unwrap()["metadata"]["public"], "false");

    // the second pass reads and writes nothing
    harbor.reset_requests();
    let (again, outcome) = client.ensure_project("acme", false, Some(quota)).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(again, project);
    // the project and its quota were read, nothing else
    assert_eq!(harbor.counts(), [("GET".to_string(), 2)].into(), "{:?}", harbor.requests());
    harbor.assert_no_violations();
}

#[tokio::test]
async fn a_project_is_updated_only_where_it_differs() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    client.ensure_project("acme", false, Some(quantity_bytes("10Gi").unwrap())).await.unwrap();

    harbor.reset_requests();
    let (p, outcome) = client.ensure_project("acme", true, Some(quantity_bytes("10Gi").unwrap())).await.unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert!(p.public);
    assert!(harbor.project("acme").unwrap().public);
    let puts: Vec<_> = harbor.requests().into_iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "only the project, not the quota: {puts:?}");
    assert_eq!(puts[0].path, format!("{API}/projects/acme"));
    assert_eq!(puts[0].body.as_ref().unwrap(), &serde_json::json!({"metadata": {"public": "true"}}));

    harbor.reset_requests();
    let (_, outcome) = client.ensure_project("acme", true, Some(quantity_bytes("1Ti").unwrap())).await.unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(harbor.storage_quota("acme"), Some(1024i64.pow(4)));
    let puts: Vec<_> = harbor.requests().into_iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "only the quota: {puts:?}");
    assert!(puts[0].path.starts_with(&format!("{API}/quotas/")), "{}", puts[0].path);
    assert_eq!(puts[0].body.as_ref().unwrap(), &serde_json::json!({"hard": {"storage": 1024i64.pow(4)}}));

    // no quota asked for: the quota is not touched
    harbor.reset_requests();
    let (_, outcome) = client.ensure_project("acme", true, None).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(harbor.requests().len(), 1);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn set_storage_quota_writes_only_a_difference() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    let id = harbor.seed_project("legacy", false);
    assert_eq!(harbor.storage_quota("legacy"), Some(UNLIMITED));
    assert_eq!(client.set_storage_quota(id, quantity_bytes("50Gi").unwrap()).await.unwrap(), Outcome::Updated);
    assert_eq!(harbor.storage_quota("legacy"), Some(50 * 1024i64.pow(3)));
    harbor.reset_requests();
    assert_eq!(client.set_storage_quota(id, 50 * 1024i64.pow(3)).await.unwrap(), Outcome::Unchanged);
    assert_eq!((harbor.count("GET"), harbor.writes()), (1, 0));
    assert_eq!(client.set_storage_quota(id, UNLIMITED).await.unwrap(), Outcome::Updated);
    assert_eq!(harbor.storage_quota("legacy"), Some(UNLIMITED));

    // Harbor's own refusal, in its words
    let err = client.set_storage_quota(id, 0).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("invalid storage limit"), "{err}");
    // no such project: no quota
    let err = client.set_storage_quota(9999, 1).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("keeps no quota"), "{err}");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn an_existing_project_is_adopted() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    harbor.seed_project("legacy", true);
    let (p, outcome) = client.ensure_project("legacy", true, None).await.unwrap();
    assert_eq!(outcome, Outcome::Adopted);
    assert!(!client.created_by_nines(&p));
    assert_eq!(harbor.writes(), 0);
    // adopted and changed is still adopted
    let (_, outcome) = client.ensure_project("legacy", false, None).await.unwrap();
    assert_eq!(outcome, Outcome::Adopted);
    assert!(!harbor.project("legacy").unwrap().public);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn a_project_created_meanwhile_is_adopted_from_the_conflict() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    harbor.seed_project("acme", false);
    // the first read misses it, as if it was created right after
    harbor.fail_next_matching(Some("GET"), &format!("{API}/projects/acme"), 404, 1, None);
    let (p, outcome) = client.ensure_project("acme", false, None).await.unwrap();
    assert_eq!(outcome, Outcome::Adopted);
    assert_eq!(p.name, "acme");
    let statuses: Vec<(String, u16)> = harbor.requests().iter().map(|s| (s.method.clone(), s.status)).collect();
    assert_eq!(statuses, [("GET".into(), 404), ("POST".into(), 409), ("GET".into(), 200)]);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn projects_are_addressed_by_name_even_when_made_of_digits() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    // project 1 exists; a project named "1" is another one
    harbor.seed_project("first", false);
    assert!(client.project("1").await.unwrap().is_none());
    let (p, outcome) = client.ensure_project("1", false, None).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(p.name, "1");
    assert_eq!(client.project("1").await.unwrap().unwrap().name, "1");
    assert!(harbor.requests().iter().all(|s| !s.cookie));
    harbor.assert_no_violations();
}

#[tokio::test]
async fn a_hidden_project_is_unauthorized_not_absent() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    harbor.seed_project("secret", false);
    harbor.hide_project("secret");
    let err = client.project("secret").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(err.message.contains("exists but nines' account may not see it"), "{err}");
    let err = client.ensure_project("secret", false, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert_eq!(harbor.writes(), 0, "no create attempted over a project it cannot see");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn invalid_names_are_refused_in_harbors_words() {
    let harbor = HarborDouble::start().await;
    let err = harbor.client().ensure_project("Acme Corp", false, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains(r#"400 Bad Request (project name "Acme Corp" is invalid)"#), "{err}");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn oidc_groups_become_members_with_their_roles() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    client.ensure_project("acme", false, None).await.unwrap();
    let developer = harbor_role_id("developer").unwrap();
    assert_eq!(client.ensure_group_member("acme", "acme-developers", developer).await.unwrap(), Outcome::Created);
    // a name that merely contains another is another group
    assert_eq!(
        client.ensure_group_member("acme", "acme-dev", harbor_role_id("guest").unwrap()).await.unwrap(),
        Outcome::Created
    );
    let members = harbor.members("acme");
    let summary: Vec<(&str, i64, i64)> =
        members.iter().map(|m| (m.group_name.as_str(), m.group_type, m.role_id)).collect();
    assert_eq!(summary, [("acme-developers", 3, 2), ("acme-dev", 3, 3)]);
    let post = harbor.requests().into_iter().find(|s| s.method == "POST" && s.path.ends_with("/members")).unwrap();
    assert_eq!(
        post.body.unwrap(),
        serde_json::json!({"role_id": 2, "member_group": {"group_name": "acme-developers", "group_type": 3}})
    );

    harbor.reset_requests();
    assert_eq!(client.ensure_group_member("acme", "acme-developers", developer).await.unwrap(), Outcome::Unchanged);
    assert_eq!(harbor.writes(), 0);

    let maintainer = harbor_role_id("maintainer").unwrap();
    assert_eq!(client.ensure_group_member("acme", "acme-developers", maintainer).await.unwrap(), Outcome::Updated);
    assert_eq!(harbor.members("acme")[0].role_id, 4);
    let put = harbor.requests().into_iter().find(|s| s.method == "PUT").unwrap();
    assert_eq!(put.body.unwrap(), serde_json::json!({"role_id": 4}));

    assert!(client.remove_group_member("acme", "acme-developers").await.unwrap());
    assert!(!client.remove_group_member("acme", "acme-developers").await.unwrap());
    assert!(!client.remove_group_member("nowhere", "acme-developers").await.unwrap());
    assert_eq!(harbor.members("acme").len(), 1);

    let err = client.ensure_group_member("nowhere", "g", 1).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn members_are_found_across_pages() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client().with_page_size(2);
    harbor.seed_project("acme", false);
    for i in 0..5 {
        harbor.seed_member("acme", &format!("team-{i}"), 3);
    }
    harbor.seed_member("acme", "team", 1);
    // "team" matches all six by Harbor's search; the exact one is last
    assert_eq!(client.ensure_group_member("acme", "team", 1).await.unwrap(), Outcome::Unchanged);
    assert_eq!(harbor.count("GET"), 3);
    assert_eq!(harbor.writes(), 0);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn deleting_a_project_with_repositories_is_blocked_until_they_go() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    client.ensure_project("acme", false, None).await.unwrap();
    harbor.add_repository("acme", "acme/web");
    let err = client.delete_project("acme").await.unwrap_err();
    assert_eq!((err.system, err.kind), (System::Harbor, ErrorKind::Blocked));
    assert!(err.message.contains("412 Precondition Failed"), "{err}");
    assert!(err.message.contains("retry later, never forced"), "{err}");
    assert!(harbor.project("acme").is_some());
    assert_eq!(harbor.count("DELETE"), 1, "nothing but the project was asked to go");

    harbor.clear_repositories("acme");
    assert!(client.delete_project("acme").await.unwrap());
    assert!(harbor.project("acme").is_none());
    assert!(!client.delete_project("acme").await.unwrap(), "a second delete meets a 404");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn unavailable_and_rate_limited_answers_are_transient() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    harbor.fail_next(1, 503);
    let err = client.ensure_project("acme", false, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("503 Service Unavailable"), "{err}");
    assert_eq!(err.retry_after, None);

    harbor.fail_next_matching(None, "/", 429, 1, Some("17"));
    let err = client.ensure_project("acme", false, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.retry_after, Some(Duration::from_secs(17)));

    harbor.fail_next_matching(Some("POST"), &format!("{API}/projects"), 503, 1, Some("5"));
    let err = client.ensure_project("acme", false, None).await.unwrap_err();
    assert_eq!((err.kind, err.retry_after), (ErrorKind::Transient, Some(Duration::from_secs(5))));
    assert!(err.message.starts_with(r#"creating project "acme""#), "{err}");

    // the faults are spent: the next attempt goes through
    assert_eq!(client.ensure_project("acme", false, None).await.unwrap().1, Outcome::Created);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn a_harbor_that_is_down_or_gone_is_transient_and_recovers() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    client.ensure_project("acme", false, None).await.unwrap();

    harbor.set_down(true);
    let err = client.project("acme").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    harbor.set_down(false);

    harbor.go_offline().await;
    let err = client.project("acme").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("unreachable"), "{err}");
    harbor.come_online().await;
    assert!(client.project("acme").await.unwrap().is_some(), "state survives the outage");
    harbor.assert_no_violations();
}

#[tokio::test]
async fn no_cookie_is_ever_sent_back() {
    let harbor = HarborDouble::start().await;
    let client = harbor.client();
    // every answer sets a session cookie; a client that kept it would meet
    // the CSRF refusal on its first write after a read
    client.check().await.unwrap();
    client.ensure_project("acme", false, Some(1)).await.unwrap();
    client.ensure_project("acme", true, Some(2)).await.unwrap();
    client.ensure_group_member("acme", "g", 1).await.unwrap();
    assert!(client.delete_project("acme").await.unwrap());
    assert!(harbor.requests().len() > 8);
    harbor.assert_no_violations();
}

#[tokio::test]
async fn the_double_holds_requests_to_the_document_and_refuses_cookies() {
    // the guard the other tests rely on: a request Harbor's document does
    // not declare is a violation, and a write with a session cookie meets
    // Harbor's CSRF refusal
    let harbor = HarborDouble::start().await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}{API}/projects", harbor.url))
        .basic_auth(&harbor.username, Some(&harbor.password))
        .json(&serde_json::json!({"project_name": "acme", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let violations = harbor.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("body.visibility: not a declared property"), "{violations:?}");

    let resp = http
        .delete(format!("{}{API}/projects/acme", harbor.url))
        .basic_auth(&harbor.username, Some(&harbor.password))
        .header("X-Is-Resource-Name", "true")
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("CSRF token invalid"));
    assert!(harbor.requests().last().unwrap().cookie);
    assert!(harbor.project("acme").is_some());

    let resp = http.get(format!("{}{API}/projects/acme/nothing-here", harbor.url)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(harbor.violations().iter().any(|v| v.contains("/projects/acme/nothing-here")), "{:?}", harbor.violations());
}
