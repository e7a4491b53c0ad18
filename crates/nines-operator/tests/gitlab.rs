//! The GitLab client against the stateful double of `common/gitlab_double.rs`,
//! which answers as GitLab's REST API v4 does and holds every request to
//! what GitLab's documentation declares: each test ends with no request
//! outside it.

mod common;
mod fake_kube;

use std::time::Duration;

use common::gitlab_double::{BOT, CreateErrors, DELETION_DAY, GitLabDouble, Injection, TOKEN};
use nines_operator::provision::gitlab::{Deletion, GitLabClient, Visibility};
use nines_operator::provision::{ErrorKind, Outcome, System};

async fn fixture() -> (GitLabDouble, GitLabClient) {
    let gitlab = GitLabDouble::start().await;
    let client = GitLabClient::new(&gitlab.url, TOKEN);
    (gitlab, client)
}

fn day(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

#[tokio::test]
async fn check_names_the_tokens_user() {
    let (gitlab, client) = fixture().await;
    assert_eq!(client.check().await.unwrap(), BOT);
    // a base URL given with the API prefix works the same
    let with_prefix = GitLabClient::new(&format!("{}/api/v4/", gitlab.url), TOKEN);
    assert_eq!(with_prefix.check().await.unwrap(), BOT);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn a_refused_token_is_unauthorized() {
    let (gitlab, _) = fixture().await;
    let client = GitLabClient::new(&gitlab.url, "glpat-wrong");
    let err = client.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert_eq!(err.system, System::GitLab);
    assert!(err.message.contains("401 Unauthorized"), "{err}");
    let err = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert!(err.message.starts_with(r#"finding group "acme": 401"#), "{err}");
    assert_eq!(gitlab.writes(), 0);
    // the token rotated on the GitLab side: the old one is refused
    gitlab.set_token("glpat-new");
    let err = GitLabClient::new(&gitlab.url, TOKEN).check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert_eq!(GitLabClient::new(&gitlab.url, "glpat-new").check().await.unwrap(), BOT);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn creates_a_group_then_only_reads_it() {
    let (gitlab, client) = fixture().await;
    let (group, outcome) = client.ensure_group("acme", "Acme Corp", Visibility::Private, None).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!((group.path.as_str(), group.full_path.as_str(), group.name.as_str()), ("acme", "acme", "Acme Corp"));
    assert_eq!(group.visibility, "private");
    assert_eq!(group.parent_id, None);
    assert_eq!(gitlab.group_id("acme"), Some(group.id));
    // GitLab makes the creator an owner
    assert_eq!(gitlab.member_level(group.id, gitlab.user_id(BOT).unwrap()), Some(50));
    let post = gitlab.requests().into_iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(post.path, "/api/v4/groups");
    assert_eq!(post.body.unwrap(), serde_json::json!({"name": "Acme Corp", "path": "acme", "visibility": "private"}));

    gitlab.reset_requests();
    let (again, outcome) = client.ensure_group("acme", "Acme Corp", Visibility::Private, None).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(again, group);
    assert_eq!(gitlab.writes(), 0, "{:?}", gitlab.requests());
    assert_eq!(gitlab.counts().get("GET"), Some(&1));
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn changes_visibility_only_when_it_differs() {
    let (gitlab, client) = fixture().await;
    let existing = gitlab.add_group("acme", "Acme", "private", None);

    let (group, outcome) = client.ensure_group("acme", "Acme", Visibility::Internal, None).await.unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(group.id, existing);
    assert_eq!(group.visibility, "internal");
    assert_eq!(gitlab.group("acme").unwrap()["visibility"], "internal");
    let put = gitlab.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/api/v4/groups/{existing}"));
    assert_eq!(put.body.unwrap(), serde_json::json!({"visibility": "internal"}));
    assert_eq!(gitlab.writes(), 1);

    gitlab.reset_requests();
    let (_, outcome) = client.ensure_group("acme", "Acme", Visibility::Internal, None).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(gitlab.writes(), 0);

    // another name is left as its owners set it
    let (group, outcome) = client.ensure_group("acme", "ACME Incorporated", Visibility::Internal, None).await.unwrap();
    assert_eq!((outcome, group.name.as_str()), (Outcome::Unchanged, "Acme"));
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn nested_groups_by_parent_id_and_encoded_full_path() {
    let (gitlab, client) = fixture().await;
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Internal, None).await.unwrap();
    let (dev, outcome) = client.ensure_group("dev.team", "Dev Team", Visibility::Private, Some(acme.id)).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(dev.full_path, "acme/dev.team");
    assert_eq!(dev.parent_id, Some(acme.id));
    let post = gitlab.requests().into_iter().rfind(|r| r.method == "POST").unwrap();
    assert_eq!(post.body.unwrap()["parent_id"], acme.id);

    gitlab.reset_requests();
    let (again, outcome) =
        client.ensure_group("dev.team", "Dev Team", Visibility::Private, Some(acme.id)).await.unwrap();
    assert_eq!((outcome, again.id), (Outcome::Unchanged, dev.id));
    assert_eq!(gitlab.writes(), 0);
    // the full path travels as one segment
    let lookups: Vec<String> = gitlab.requests().into_iter().map(|r| r.path).collect();
    assert!(lookups.contains(&"/api/v4/groups/acme%2Fdev.team".to_string()), "{lookups:?}");
    assert_eq!(client.group("acme/dev.team").await.unwrap().map(|g| g.id), Some(dev.id));
    // GitLab's routes are case-insensitive
    assert_eq!(client.group("ACME/Dev.Team").await.unwrap().map(|g| g.id), Some(dev.id));
    assert_eq!(client.group("acme/ops").await.unwrap(), None);

    // a subgroup may not be more visible than its parent: GitLab's words
    let err = client.ensure_group("www", "Web", Visibility::Public, Some(acme.id)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert!(err.message.contains("public is not allowed since the parent group has a internal visibility"), "{err}");
    // no such parent
    let err = client.ensure_group("x", "X", Visibility::Private, Some(999_999)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("no such parent group"), "{err}");
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn adopts_a_group_created_between_lookup_and_create() {
    for shape in [CreateErrors::Object, CreateErrors::Text] {
        let (gitlab, client) = fixture().await;
        gitlab.set_create_errors(shape);
        gitlab.race_group("acme", "Acme", "private");
        let (group, outcome) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
        assert_eq!(outcome, Outcome::Adopted, "{shape:?}");
        assert_eq!(Some(group.id), gitlab.group_id("acme"));
        let statuses: Vec<(String, u16)> = gitlab.requests().into_iter().map(|r| (r.method, r.status)).collect();
        let expected = [("GET", 404), ("POST", 400), ("GET", 200)].map(|(m, s)| (m.to_string(), s));
        assert_eq!(statuses, expected, "{shape:?}");

        // adopted with the wrong visibility: changed to match
        gitlab.race_group("ops", "Ops", "private");
        let (_, outcome) = client.ensure_group("ops", "Ops", Visibility::Internal, None).await.unwrap();
        assert_eq!(outcome, Outcome::Updated, "{shape:?}");
        assert_eq!(gitlab.group("ops").unwrap()["visibility"], "internal");
        gitlab.assert_no_violations();
    }
}

#[tokio::test]
async fn a_path_taken_by_a_user_is_reported() {
    let (gitlab, client) = fixture().await;
    gitlab.add_user("alice", "Alice", "alice@example.com", None);
    let err = client.ensure_group("alice", "Alice's team", Visibility::Private, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert!(err.message.contains("path has already been taken"), "{err}");
    assert!(err.message.contains("belongs to a user"), "{err}");
    // another bad path: GitLab's rule, in its words
    let err = client.ensure_group("-bad", "Bad", Visibility::Private, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("path can contain only letters"), "{err}");
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn a_group_marked_for_deletion_blocks() {
    let (gitlab, client) = fixture().await;
    gitlab.enable_delayed_deletion(DELETION_DAY);
    let acme = gitlab.add_group("acme", "Acme", "private", None);
    gitlab.mark_for_deletion(acme, "2026-04-01");
    let err = client.ensure_group("acme", "Acme", Visibility::Internal, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Blocked, "{err}");
    assert!(err.message.contains("only marked for deletion and will be removed on 2026-04-01"), "{err}");
    // nor is anything created under it
    let err = client.ensure_group("dev", "Dev", Visibility::Private, Some(acme)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Blocked, "{err}");
    assert_eq!(gitlab.writes(), 0, "{:?}", gitlab.requests());
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn deleting_removes_or_reports_the_schedule() {
    let (gitlab, client) = fixture().await;
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
    let (dev, _) = client.ensure_group("dev", "Dev", Visibility::Private, Some(acme.id)).await.unwrap();
    assert_eq!(client.delete_group(acme.id).await.unwrap(), Deletion::Deleted);
    assert_eq!(gitlab.group("acme"), None);
    assert_eq!(gitlab.group("acme/dev"), None);
    assert_eq!(client.delete_group(dev.id).await.unwrap(), Deletion::NotFound);
    assert_eq!(client.delete_group(acme.id).await.unwrap(), Deletion::NotFound);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn delayed_deletion_is_scheduled() {
    let (gitlab, client) = fixture().await;
    gitlab.enable_delayed_deletion(DELETION_DAY);
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
    let (dev, _) = client.ensure_group("dev", "Dev", Visibility::Private, Some(acme.id)).await.unwrap();
    let (ops, _) = client.ensure_group("ops", "Ops", Visibility::Private, None).await.unwrap();

    assert_eq!(client.delete_group(acme.id).await.unwrap(), Deletion::Scheduled(day(DELETION_DAY)));
    assert_eq!(gitlab.group("acme").unwrap()["marked_for_deletion_on"], DELETION_DAY);
    // again: GitLab refuses to mark it twice, and it is still scheduled
    assert_eq!(client.delete_group(acme.id).await.unwrap(), Deletion::Scheduled(day(DELETION_DAY)));
    // a subgroup goes with its marked parent
    assert_eq!(client.delete_group(dev.id).await.unwrap(), Deletion::Scheduled(day(DELETION_DAY)));
    assert!(gitlab.group("acme/dev").unwrap()["marked_for_deletion_on"].is_null());
    // a refusal that is not about the mark stays an error
    gitlab.inject(
        Injection::unavailable().only("DELETE", &format!("/api/v4/groups/{}", ops.id)), // a proxy's 503
    );
    let err = client.delete_group(ops.id).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(client.delete_group(ops.id).await.unwrap(), Deletion::Scheduled(day(DELETION_DAY)));
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn members_are_added_changed_and_removed() {
    let (gitlab, client) = fixture().await;
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
    let alice = gitlab.add_user("alice", "Alice", "alice@example.com", None);

    assert_eq!(client.member(acme.id, alice).await.unwrap(), None);
    assert_eq!(client.ensure_member(acme.id, alice, 30).await.unwrap(), Outcome::Created);
    assert_eq!(gitlab.member_level(acme.id, alice), Some(30));
    let member = client.member(acme.id, alice).await.unwrap().unwrap();
    assert_eq!((member.id, member.username.as_str(), member.access_level), (alice, "alice", 30));

    gitlab.reset_requests();
    assert_eq!(client.ensure_member(acme.id, alice, 30).await.unwrap(), Outcome::Unchanged);
    assert_eq!(gitlab.writes(), 0, "{:?}", gitlab.requests());

    for level in [40, 15, 50, 10, 20] {
        assert_eq!(client.ensure_member(acme.id, alice, level).await.unwrap(), Outcome::Updated, "{level}");
        assert_eq!(gitlab.member_level(acme.id, alice), Some(level));
    }
    let put = gitlab.requests().into_iter().rfind(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/api/v4/groups/{}/members/{alice}", acme.id));
    assert_eq!(put.body.unwrap(), serde_json::json!({"access_level": 20}));

    // a level GitLab does not have is refused before anything is sent
    gitlab.reset_requests();
    let err = client.ensure_member(acme.id, alice, 35).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(gitlab.requests().is_empty());

    assert!(client.remove_member(acme.id, alice).await.unwrap());
    assert_eq!(gitlab.member_level(acme.id, alice), None);
    assert!(!client.remove_member(acme.id, alice).await.unwrap());

    // no such user, no such group
    let err = client.ensure_member(acme.id, 4242, 30).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("404 User Not Found"), "{err}");
    let err = client.member(999_999, alice).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("404 Group Not Found"), "{err}");
    assert!(!client.remove_member(999_999, alice).await.unwrap());
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn a_member_added_meanwhile_is_met_by_409() {
    let (gitlab, client) = fixture().await;
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
    let alice = gitlab.add_user("alice", "Alice", "alice@example.com", None);
    let bob = gitlab.add_user("bob", "Bob", "bob@example.com", None);

    gitlab.race_member(acme.id, alice, 30);
    assert_eq!(client.ensure_member(acme.id, alice, 30).await.unwrap(), Outcome::Adopted);
    let seen: Vec<(String, u16)> = gitlab.requests().into_iter().map(|r| (r.method, r.status)).rev().take(3).collect();
    let expected = [("GET", 200), ("POST", 409), ("GET", 404)].map(|(m, s)| (m.to_string(), s));
    assert_eq!(seen, expected);

    gitlab.race_member(acme.id, bob, 20);
    assert_eq!(client.ensure_member(acme.id, bob, 40).await.unwrap(), Outcome::Updated);
    assert_eq!(gitlab.member_level(acme.id, bob), Some(40));
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn a_level_below_an_inherited_one_is_refused_in_gitlabs_words() {
    let (gitlab, client) = fixture().await;
    let (acme, _) = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap();
    let (dev, _) = client.ensure_group("dev", "Dev", Visibility::Private, Some(acme.id)).await.unwrap();
    let alice = gitlab.add_user("alice", "Alice", "alice@example.com", None);
    assert_eq!(client.ensure_member(acme.id, alice, 40).await.unwrap(), Outcome::Created);
    // inherited memberships are no direct ones
    assert_eq!(client.member(dev.id, alice).await.unwrap(), None);
    let err = client.ensure_member(dev.id, alice, 30).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert!(
        err.message.contains("access_level should be greater than or equal to Maintainer inherited membership"),
        "{err}"
    );
    assert_eq!(client.ensure_member(dev.id, alice, 50).await.unwrap(), Outcome::Created);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn users_by_username_or_email() {
    let (gitlab, client) = fixture().await;
    let alice = gitlab.add_user("alice", "Alice Example", "alice@corp.example", Some("alice@example.com"));
    let bob = gitlab.add_user("bob", "Bob", "bob@corp.example", None);
    // a name holding the address matches the search, not the lookup
    gitlab.add_user("carol", "carol alice@corp.example", "carol@corp.example", None);

    let u = client.find_user(Some("Alice"), None).await.unwrap().unwrap();
    assert_eq!((u.id, u.username.as_str()), (alice, "alice"));
    assert_eq!(client.find_user(Some("nobody"), None).await.unwrap(), None);
    // the username wins; an unknown one falls back to the address
    assert_eq!(client.find_user(Some("alice"), Some("bob@corp.example")).await.unwrap().unwrap().id, alice);
    assert_eq!(client.find_user(Some("robert"), Some("bob@corp.example")).await.unwrap().unwrap().id, bob);

    // an administrator's token finds primary and public addresses
    assert_eq!(client.find_user(None, Some("ALICE@corp.example")).await.unwrap().unwrap().id, alice);
    assert_eq!(client.find_user(None, Some("alice@example.com")).await.unwrap().unwrap().id, alice);
    assert_eq!(client.find_user(None, Some("nobody@example.com")).await.unwrap(), None);

    // any other token finds public addresses only
    gitlab.set_admin(false);
    let u = client.find_user(None, Some("alice@example.com")).await.unwrap().unwrap();
    assert_eq!(u.id, alice);
    assert_eq!(u.public_email.as_deref(), Some("alice@example.com"));
    assert_eq!(u.email, None);
    assert_eq!(client.find_user(None, Some("bob@corp.example")).await.unwrap(), None);
    assert_eq!(client.find_user(None, Some("alice@corp.example")).await.unwrap(), None);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn rate_limits_are_transient_with_retry_after() {
    let (gitlab, client) = fixture().await;
    gitlab.inject(Injection::rate_limited(42));
    let err = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(42)));
    assert!(err.message.contains("429 Too Many Requests (Retry later)"), "{err}");

    // older GitLab: RateLimit-Reset only
    gitlab.inject(Injection::rate_limited(90).without_retry_after().only("POST", "/api/v4/groups"));
    let err = client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    let wait = err.retry_after.unwrap();
    assert!(wait <= Duration::from_secs(90) && wait >= Duration::from_secs(85), "{wait:?}");

    // and then it goes through
    assert_eq!(client.ensure_group("acme", "Acme", Visibility::Private, None).await.unwrap().1, Outcome::Created);
    gitlab.assert_no_violations();
}

#[tokio::test]
async fn unavailable_and_down_are_transient() {
    let (gitlab, client) = fixture().await;
    gitlab.inject(Injection::unavailable().times(2));
    for _ in 0..2 {
        let err = client.check().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient, "{err}");
        // the proxy's HTML page adds nothing to the status
        assert_eq!(err.to_string(), "GitLab: reading the token's user: 503 Service Unavailable");
    }
    assert_eq!(client.check().await.unwrap(), BOT);

    gitlab.set_down(true);
    let err = client.ensure_member(1, 1, 30).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("unreachable"), "{err}");
    gitlab.set_down(false);
    assert_eq!(client.check().await.unwrap(), BOT);

    // nothing listening at all
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = GitLabClient::new(&closed, TOKEN).check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    gitlab.assert_no_violations();
}

/// The double's contract check catches what GitLab's documentation does not
/// declare, or the tests above would prove nothing.
#[tokio::test]
async fn the_double_flags_requests_outside_the_documentation() {
    let gitlab = GitLabDouble::start().await;
    let http = reqwest::Client::new();
    let send = async |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = http.request(method, format!("{}{path}", gitlab.url)).header("PRIVATE-TOKEN", TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().status().as_u16()
    };
    use reqwest::Method;
    // a nested path with a raw slash is no endpoint at all
    assert_eq!(send(Method::GET, "/api/v4/groups/acme/dev", None).await, 404);
    // undeclared, mistyped, missing, null
    send(Method::GET, "/api/v4/groups/acme?with_project=false", None).await;
    send(Method::POST, "/api/v4/groups", Some(serde_json::json!({"name": "A", "path": "a", "parent_id": null}))).await;
    send(Method::POST, "/api/v4/groups", Some(serde_json::json!({"name": "B", "visibility": "secret"}))).await;
    send(Method::POST, "/api/v4/groups/1/members", Some(serde_json::json!({"access_level": "30"}))).await;
    send(Method::PUT, "/api/v4/groups/acme", Some(serde_json::json!({"visibility": "private"}))).await;
    send(Method::GET, "/api/v4/users?email=a@example.com", None).await;

    let violations = gitlab.violations();
    let expected = [
        "GET /api/v4/groups/acme/dev: no documented endpoint",
        "with_project is not a documented parameter",
        "parent_id: null where the documentation says Int",
        "visibility: \"secret\" is not Enum",
        "required parameter path missing",
        "access_level: \"30\" is not Int",
        "exactly one of user_id, username is required, 0 given",
        "path parameter id: \"acme\" is not Int",
        "email is not a documented parameter",
    ];
    for e in expected {
        assert!(violations.iter().any(|v| v.contains(e)), "{e:?} not in {violations:#?}");
    }
    assert_eq!(violations.len(), expected.len(), "{violations:#?}");
}
