//! The Keycloak Admin client against a real Keycloak (see
//! `common/keycloak.rs`: skipped without `NINES_KEYCLOAK_HOME`, failed
//! instead under `NINES_TEST_REQUIRE_ALL=1`). Each test works in a realm of
//! its own on the binary's one server, through a recording proxy, and ends
//! by holding every request it sent to Keycloak's published Admin API
//! document (`tests/vendor/keycloak-26.6-admin-openapi.json`).

mod common;
mod fake_kube;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::vendor_spec::{RecordingProxy, VendorSpec, parse_query, specs_dir};
use nines_operator::provision::keycloak::KeycloakAdmin;
use nines_operator::provision::{CREATED_BY, ErrorKind, Outcome};
use nines_testing::keycloak::Keycloak;
use serde_json::{Value, json};

const TOKEN_PATH: &str = "/realms/{realm}/protocol/openid-connect/token";

/// The Admin API document, plus the token endpoint it does not cover.
fn spec() -> &'static VendorSpec {
    static SPEC: OnceLock<VendorSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = VendorSpec::load(specs_dir().join("keycloak-26.6-admin-openapi.json"));
        spec.allow("POST", TOKEN_PATH);
        spec
    })
}

/// A realm name no other test of this run uses.
fn realm_name(base: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{base}-{}-{:06x}", N.fetch_add(1, Ordering::Relaxed), nanos & 0xffffff)
}

/// A realm with nines' client in it, and a client for it behind a proxy.
struct Fixture {
    kc: &'static Keycloak,
    realm: String,
    proxy: RecordingProxy,
    admin: KeycloakAdmin,
}

impl Fixture {
    async fn new(base: &str, realm_extra: Value) -> Option<Fixture> {
        let kc = Keycloak::shared().await?;
        let realm = realm_name(base);
        let (id, secret) = kc.create_realm_with(&realm, realm_extra).await;
        let proxy = RecordingProxy::start(&kc.base).await;
        // pages of 10 (Keycloak's own default for subgroups) so that a few
        // dozen objects already span pages
        let admin = KeycloakAdmin::new(&proxy.url, &realm, &id, &secret).with_page_size(10);
        Some(Fixture { kc, realm, proxy, admin })
    }

    /// The exchanges whose path ends with `tail` (after the realm).
    fn calls(&self, method: &str, tail: &str) -> Vec<common::vendor_spec::Exchange> {
        let prefix = format!("/admin/realms/{}{tail}", self.realm);
        self.proxy.exchanges().into_iter().filter(|x| x.method == method && x.path == prefix).collect()
    }

    fn token_calls(&self) -> usize {
        self.proxy.exchanges().iter().filter(|x| x.path.ends_with("/protocol/openid-connect/token")).count()
    }

    /// Every request sent matched the vendor's document; then the realm goes.
    async fn finish(self) {
        let violations = self.proxy.violations(spec());
        assert!(
            violations.is_empty(),
            "requests or answers outside Keycloak's API document:\n{}",
            violations.join("\n")
        );
        let n = self.proxy.exchanges().len();
        assert!(n > 0);
        eprintln!("{}: {n} exchanges, all as Keycloak's API document declares", self.realm);
        self.kc.delete_realm(&self.realm).await;
    }
}

fn attrs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
}

#[tokio::test]
async fn groups_are_created_adopted_listed_updated_and_deleted() {
    let Some(f) = Fixture::new("groups", json!({})).await else { return };
    let kc = &f.admin;
    kc.check().await.unwrap();

    // created, with the marker
    let (acme, outcome) = kc.create_group("acme-corp", &attrs(&[("tier", &["gold"])])).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!((acme.name.as_str(), acme.path.as_str()), ("acme-corp", "/acme-corp"));
    assert_eq!(acme.attributes, attrs(&[("tier", &["gold"]), (CREATED_BY, &["nines"])]));
    assert!(KeycloakAdmin::created_by_nines(&acme));

    // again: Keycloak says 409, the group is nines' own from before
    let (again, outcome) = kc.create_group("acme-corp", &BTreeMap::new()).await.unwrap();
    assert_eq!((again.id.as_str(), outcome), (acme.id.as_str(), Outcome::Unchanged));
    assert_eq!(f.calls("POST", "/groups").iter().map(|x| x.status).collect::<Vec<_>>(), [201, 409]);

    // someone else's group of that name is adopted, its attributes untouched
    let legacy_id =
        f.kc.create_group(
            &f.realm,
            json!({"name": "legacy", "description": "made by hand", "attributes": {"owner": ["ops"]}}),
        )
        .await;
    let (legacy, outcome) = kc.create_group("legacy", &attrs(&[("tier", &["gold"])])).await.unwrap();
    assert_eq!((legacy.id.as_str(), outcome), (legacy_id.as_str(), Outcome::Adopted));
    assert!(!KeycloakAdmin::created_by_nines(&legacy));
    assert_eq!(legacy.attributes, attrs(&[("owner", &["ops"])]));

    // by path, with names that need encoding
    assert_eq!(kc.group_by_path("/acme-corp").await.unwrap().map(|g| g.id), Some(acme.id.clone()));
    assert_eq!(kc.group_by_path("/no-such-group").await.unwrap(), None);
    let (team, outcome) = kc.ensure_child_group(&acme.id, "dev team ü&?#", &BTreeMap::new()).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(team.path, "/acme-corp/dev team ü&?#");
    assert!(KeycloakAdmin::created_by_nines(&team));
    assert_eq!(kc.group_by_path("/acme-corp/dev team ü&?#").await.unwrap().map(|g| g.id), Some(team.id.clone()));
    let (same, outcome) = kc.ensure_child_group(&acme.id, "dev team ü&?#", &BTreeMap::new()).await.unwrap();
    assert_eq!((same.id.as_str(), outcome), (team.id.as_str(), Outcome::Unchanged));

    // 25 more subgroups: the listing spans three pages of 10
    for i in 0..25 {
        let (_, outcome) = kc.ensure_child_group(&acme.id, &format!("env-{i:02}"), &BTreeMap::new()).await.unwrap();
        assert_eq!(outcome, Outcome::Created);
    }
    let before = f.calls("GET", &format!("/groups/{}/children", acme.id)).len();
    let children = kc.children(&acme.id).await.unwrap();
    let mut names: Vec<&str> = children.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    let mut expected: Vec<String> = (0..25).map(|i| format!("env-{i:02}")).collect();
    expected.push("dev team ü&?#".into());
    expected.sort();
    assert_eq!(names, expected);
    assert!(children.iter().all(KeycloakAdmin::created_by_nines), "full representations carry attributes");
    let pages: Vec<String> = f.calls("GET", &format!("/groups/{}/children", acme.id))[before..]
        .iter()
        .map(|x| {
            let q: BTreeMap<String, String> = parse_query(&x.query).into_iter().collect();
            format!("{}+{}", q["first"], q["max"])
        })
        .collect();
    assert_eq!(pages, ["0+10", "10+10", "20+10"]);
    assert_eq!(kc.get_group(&acme.id).await.unwrap().unwrap().sub_group_count, Some(26));

    // attributes: read-modify-write keeps every other key and field
    let puts = f.calls("PUT", &format!("/groups/{legacy_id}")).len();
    let changes = attrs(&[("tier", &["platinum"]), ("contacts", &["a@example.com", "b@example.com"])]);
    assert_eq!(kc.set_attributes(&legacy_id, &changes).await.unwrap(), Outcome::Updated);
    let (rep, _) = f.kc.admin_ok("GET", &format!("/{}/groups/{legacy_id}", f.realm), None).await;
    assert_eq!(rep["description"], "made by hand");
    let now: BTreeMap<String, Vec<String>> = serde_json::from_value(rep["attributes"].clone()).unwrap();
    assert_eq!(now["owner"], ["ops"]);
    assert_eq!(now["tier"], ["platinum"]);
    let mut contacts = now["contacts"].clone();
    contacts.sort();
    assert_eq!(contacts, ["a@example.com", "b@example.com"]);
    // the same again (values in another order): nothing is written
    let reordered = attrs(&[("contacts", &["b@example.com", "a@example.com"]), ("tier", &["platinum"])]);
    assert_eq!(kc.set_attributes(&legacy_id, &reordered).await.unwrap(), Outcome::Unchanged);
    assert_eq!(f.calls("PUT", &format!("/groups/{legacy_id}")).len(), puts + 1);
    // an empty list removes the key
    assert_eq!(kc.set_attributes(&legacy_id, &attrs(&[("tier", &[])])).await.unwrap(), Outcome::Updated);
    let g = kc.get_group(&legacy_id).await.unwrap().unwrap();
    assert_eq!(g.attributes.keys().collect::<Vec<_>>(), ["contacts", "owner"]);
    let err = kc.set_attributes("no-such-id", &attrs(&[("a", &["1"])])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");

    // deleting twice: there, then gone (with its subgroups)
    assert!(kc.delete_group(&acme.id).await.unwrap());
    assert!(!kc.delete_group(&acme.id).await.unwrap());
    assert_eq!(kc.get_group(&acme.id).await.unwrap(), None);
    assert_eq!(kc.get_group(&team.id).await.unwrap(), None);

    // a refusal names the call and carries Keycloak's words
    let err = kc.create_group("", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert!(err.to_string().starts_with("Keycloak: creating group \"\": 400 Bad Request"), "{err}");
    f.finish().await;
}

#[tokio::test]
async fn users_are_found_and_memberships_changed() {
    let Some(f) = Fixture::new("users", json!({})).await else { return };
    let kc = &f.admin;
    let alice = f.kc.create_user(&f.realm, "alice", "Alice@Example.com").await;
    // a prefix of alice's name and email, so that a search that is not
    // exact would find two
    f.kc.create_user(&f.realm, "alice2", "alice@example.com.au").await;

    let by_name = kc.find_user(Some("alice"), None).await.unwrap().unwrap();
    assert_eq!((by_name.id.as_str(), by_name.username.as_str()), (alice.as_str(), "alice"));
    assert_eq!(by_name.email.as_deref(), Some("alice@example.com"));
    assert_eq!(kc.find_user(Some("ALICE"), None).await.unwrap().map(|u| u.id), Some(alice.clone()));
    assert_eq!(kc.find_user(None, Some("alice@EXAMPLE.com")).await.unwrap().map(|u| u.id), Some(alice.clone()));
    assert_eq!(
        kc.find_user(Some("nobody"), Some("alice@example.com")).await.unwrap().map(|u| u.id),
        Some(alice.clone()),
        "falls back to the email"
    );
    assert_eq!(kc.find_user(Some("nobody"), None).await.unwrap(), None);
    assert_eq!(kc.find_user(Some("ali"), Some("ali@example.com")).await.unwrap(), None);
    assert_eq!(kc.find_user(None, None).await.unwrap(), None);

    // 12 memberships: the user's groups span two pages of 10
    let mut ids = vec![];
    for i in 0..12 {
        let (g, _) = kc.create_group(&format!("team-{i:02}"), &BTreeMap::new()).await.unwrap();
        kc.add_member(&alice, &g.id).await.unwrap();
        ids.push(g.id);
    }
    kc.add_member(&alice, &ids[0]).await.unwrap();
    let mut member_of: Vec<String> = kc.user_groups(&alice).await.unwrap().into_iter().map(|g| g.id).collect();
    member_of.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(member_of, expected);
    assert_eq!(f.calls("GET", &format!("/users/{alice}/groups")).len(), 2);

    kc.remove_member(&alice, &ids[0]).await.unwrap();
    kc.remove_member(&alice, &ids[0]).await.unwrap();
    kc.remove_member(&alice, "no-such-group").await.unwrap();
    assert_eq!(kc.user_groups(&alice).await.unwrap().len(), 11);

    let err = kc.add_member(&alice, "no-such-group").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert!(err.message.starts_with(&format!("adding user {alice} to group no-such-group: 404 Not Found")), "{err}");
    f.finish().await;
}

#[tokio::test]
async fn tokens_are_reused_renewed_before_expiry_and_after_a_401() {
    // tokens of this realm live 10 s: renewed 1 s before they lapse
    let Some(f) = Fixture::new("tokens", json!({"accessTokenLifespan": 10})).await else { return };
    let kc = &f.admin;
    kc.check().await.unwrap();
    kc.check().await.unwrap();
    assert_eq!(f.token_calls(), 1, "one token for both calls");
    let token = f.proxy.exchanges().into_iter().find(|x| x.path.ends_with("/token")).unwrap();
    // Keycloak counts the realm's 10 s from its own clock second: a request
    // that crosses a second boundary is told 9
    let expires_in = token.response.as_ref().unwrap()["expires_in"].as_i64().unwrap();
    assert!((9..=10).contains(&expires_in), "expires_in {expires_in}");
    assert_eq!(token.response.as_ref().unwrap()["access_token"], "<redacted>");

    tokio::time::sleep(Duration::from_millis(9_500)).await;
    kc.check().await.unwrap();
    assert_eq!(f.token_calls(), 2, "renewed before it lapsed");
    let realm_reads = f.calls("GET", "");
    assert!(realm_reads.iter().all(|x| x.status == 200), "no call went out with a stale token");

    // a token revoked early: the 401 is answered with a new token, once
    f.proxy.inject(&format!("/admin/realms/{}", f.realm), 401, 1);
    kc.check().await.unwrap();
    assert_eq!(f.token_calls(), 3);
    let statuses: Vec<u16> = f.calls("GET", "").iter().map(|x| x.status).collect();
    assert_eq!(statuses[statuses.len() - 2..], [401, 200]);

    // twice in a row is the credentials' fault
    f.proxy.inject(&format!("/admin/realms/{}", f.realm), 401, 2);
    let err = kc.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    f.finish().await;
}

#[tokio::test]
async fn refused_credentials_are_unauthorized() {
    let Some(f) = Fixture::new("creds", json!({})).await else { return };

    let wrong = KeycloakAdmin::new(&f.proxy.url, &f.realm, nines_testing::keycloak::NINES_CLIENT_ID, "wrong-secret");
    let err = wrong.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "Keycloak: getting a token for client \"nines-operator\" in realm \"{}\": 401 Unauthorized",
            f.realm
        )),
        "{err}"
    );

    // a client without the realm-admin role gets a token, then 403
    let secret = f.kc.create_client(&f.realm, "no-roles", false).await;
    let weak = KeycloakAdmin::new(&f.proxy.url, &f.realm, "no-roles", &secret);
    let err = weak.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert!(err.message.contains("403 Forbidden") && err.message.contains("realm-admin"), "{err}");
    let err = weak.create_group("acme", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().starts_with("Keycloak: creating group \"acme\": 403 Forbidden"), "{err}");

    // a realm that does not exist
    let nowhere = KeycloakAdmin::new(&f.proxy.url, "no-such-realm", "x", "y");
    let err = nowhere.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    f.finish().await;
}

#[tokio::test]
async fn a_client_of_master_administers_another_realm() {
    let Some(f) = Fixture::new("master", json!({})).await else { return };
    let (id, secret) = f.kc.bootstrap_credentials();
    let kc = KeycloakAdmin::new(&f.proxy.url, &f.realm, id, secret).with_token_realm("master");
    kc.check().await.unwrap();
    let (g, outcome) = kc.create_group("acme", &BTreeMap::new()).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(f.admin.group_by_path("/acme").await.unwrap().map(|x| x.id), Some(g.id));
    assert!(f.proxy.exchanges().iter().any(|x| x.path == "/realms/master/protocol/openid-connect/token"));
    f.finish().await;
}

#[tokio::test]
async fn an_unreachable_keycloak_is_transient() {
    // a port nothing listens on: bound, then closed
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kc = KeycloakAdmin::new(&format!("http://127.0.0.1:{port}"), "acme", "nines", "secret");
    let err = kc.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("unreachable"), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

/// The checker itself: what the document declares passes, the rest fails.
#[test]
fn the_vendor_document_judges_requests() {
    let spec = spec();
    let ok = [
        ("GET", "/admin/realms/acme", "", None),
        ("GET", "/admin/realms/acme/group-by-path/a/b%20c", "", None),
        ("GET", "/admin/realms/acme/groups/1/children", "first=0&max=10&briefRepresentation=false", None),
        ("POST", "/admin/realms/acme/groups", "", Some(json!({"name": "x", "attributes": {"k": ["v"]}}))),
        ("PUT", "/admin/realms/acme/users/u/groups/g", "", None),
        ("GET", "/admin/realms/acme/users", "username=a&exact=true", None),
        ("POST", "/realms/acme/protocol/openid-connect/token", "", None),
    ];
    for (method, path, query, body) in ok {
        spec.check_request(method, path, query, body.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    }
    let bad = [
        ("PATCH", "/admin/realms/acme/groups/1", "", None, "documents only"),
        ("GET", "/admin/realms/acme/no-such-thing", "", None, "no path"),
        ("GET", "/admin/realms/acme/groups/1/children", "page=2", None, "not declared"),
        ("GET", "/admin/realms/acme/groups/1/children", "max=ten", None, "not a"),
        ("POST", "/admin/realms/acme/groups", "", Some(json!({"name": "x", "colour": "red"})), "body.colour"),
        ("POST", "/admin/realms/acme/groups", "", Some(json!({"name": 7})), "body.name: expected string"),
        ("POST", "/admin/realms/acme/groups", "", Some(json!({"attributes": {"k": "v"}})), "body.attributes.k"),
        ("DELETE", "/admin/realms/acme/users/u/groups/g", "", Some(json!({})), "no JSON request body"),
        ("POST", "/realms/acme/protocol/openid-connect/token", "scope=x", None, "not declared"),
    ];
    for (method, path, query, body, expected) in bad {
        let err = spec.check_request(method, path, query, body.as_ref()).unwrap_err();
        assert!(err.contains(expected), "{method} {path}?{query}: {err}");
    }
    // a literal segment wins over a parameter, as in Keycloak's router
    spec.check_request("GET", "/admin/realms/acme/groups/count", "search=x", None).unwrap();
    assert!(spec.check_request("GET", "/admin/realms/acme/groups/some-id", "search=x", None).is_err());

    spec.check_response("GET", "/admin/realms/acme/groups/1", 200, Some(&json!({"id": "1", "name": "x"}))).unwrap();
    spec.check_response("DELETE", "/admin/realms/acme/groups/1", 404, None).unwrap();
    let err = spec.check_response("GET", "/admin/realms/acme/groups/1", 200, Some(&json!({"name": 1}))).unwrap_err();
    assert!(err.contains("body.name: expected string"), "{err}");
    let err = spec.check_response("DELETE", "/admin/realms/acme/groups/1", 200, None).unwrap_err();
    assert!(err.contains("status not documented"), "{err}");
}
