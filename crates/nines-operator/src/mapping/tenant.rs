//! Names and mappings of tenant provisioning: role subgroups, Argo CD
//! policy templates, storage quotas, and the access levels and role ids an
//! organization role means in GitLab and Harbor. Pure; table-tested.

use crate::crd::PlatformSettings;

/// The roles every organization gets a subgroup for when the platform's
/// `settings.defaultRoles` is empty.
pub const DEFAULT_ROLES: [&str; 3] = ["admins", "developers", "viewers"];

/// The subgroup pattern when the platform sets none.
pub const DEFAULT_SUBGROUP_PATTERN: &str = "{org}-{role}";

/// The name of an organization's role subgroup: the platform's
/// `subgroupNamePattern` with `{org}` and `{role}` filled in.
pub fn subgroup_name(pattern: Option<&str>, org: &str, role: &str) -> String {
    pattern
        .filter(|p| !p.trim().is_empty())
        .unwrap_or(DEFAULT_SUBGROUP_PATTERN)
        .replace("{org}", org)
        .replace("{role}", role)
}

/// The role subgroups an organization's Keycloak group gets: one per
/// default role, named by the pattern; none when the platform does not
/// create them.
pub fn role_subgroups(settings: &PlatformSettings, org_group: &str) -> Vec<(String, String)> {
    if !settings.auto_create_role_subgroups {
        return Vec::new();
    }
    let roles: Vec<&str> = if settings.default_roles.is_empty() {
        DEFAULT_ROLES.to_vec()
    } else {
        settings.default_roles.iter().map(String::as_str).collect()
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for role in roles {
        let role = role.trim();
        if role.is_empty() || out.iter().any(|(r, _)| r == role) {
            continue;
        }
        out.push((role.to_string(), subgroup_name(settings.subgroup_name_pattern.as_deref(), org_group, role)));
    }
    out
}

/// The role subgroup a Contact's organization role (`admin`, `developer`,
/// `viewer`, singular as in the seed) belongs to, among the platform's
/// roles (`admins`, `developers`, `viewers`): the role itself or its plural.
pub fn subgroup_role_of<'a>(role: &str, roles: &'a [(String, String)]) -> Option<&'a (String, String)> {
    let role = role.trim();
    roles.iter().find(|(r, _)| r.eq_ignore_ascii_case(role)).or_else(|| {
        let plural = format!("{role}s");
        roles.iter().find(|(r, _)| r.eq_ignore_ascii_case(&plural))
    })
}

/// An Argo CD role policy of the platform with `{project}` filled in.
pub fn project_policy(template: &str, project: &str) -> String {
    template.replace("{project}", project)
}

/// Bytes of a Kubernetes quantity (`50Gi`, `100G`, `1.5Ti`, `512Mi`,
/// `1e9`), rounded up to a whole byte. Harbor's storage quota takes bytes.
pub fn quantity_bytes(q: &str) -> Result<i64, String> {
    let q = q.trim();
    if q.is_empty() {
        return Err("is empty".into());
    }
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 || num.matches('.').count() > 1 {
        return Err(format!("{q:?} is not a Kubernetes quantity (a number and a suffix such as Gi)"));
    }
    let value: f64 =
        num.parse().map_err(|_| format!("{q:?} is not a Kubernetes quantity (a number and a suffix such as Gi)"))?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| format!("{q:?}: unknown suffix {s:?}"))?;
            if !(0..=18).contains(&exp) {
                return Err(format!("{q:?}: exponent out of range"));
            }
            10f64.powi(exp)
        }
        "m" => return Err(format!("{q:?}: a storage quota is whole bytes, not thousandths")),
        s => return Err(format!("{q:?}: unknown suffix {s:?} (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E)")),
    };
    let bytes = (value * factor).ceil();
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("{q:?} is too large"));
    }
    Ok(bytes as i64)
}

/// GitLab's access level for a name (`guest` 10, `planner` 15, `reporter`
/// 20, `developer` 30, `maintainer` 40, `owner` 50) or its number.
pub fn gitlab_access_level(name: &str) -> Result<u32, String> {
    let n = name.trim().to_ascii_lowercase();
    let level = match n.as_str() {
        "guest" => 10,
        "planner" => 15,
        "reporter" => 20,
        "developer" => 30,
        "maintainer" => 40,
        "owner" => 50,
        other => match other.parse::<u32>() {
            Ok(v @ (10 | 15 | 20 | 30 | 40 | 50)) => v,
            _ => {
                return Err(format!(
                    "unknown GitLab access level {name:?} (guest, planner, reporter, developer, maintainer or owner)"
                ));
            }
        },
    };
    Ok(level)
}

/// The GitLab access level an organization role grants in the
/// organization's group: admins own it, developers develop, viewers read
/// (reporter: guests cannot read a private group's code).
pub fn gitlab_level_for_role(role: &str) -> Result<u32, String> {
    match role.trim().to_ascii_lowercase().trim_end_matches('s') {
        "admin" => Ok(50),
        "developer" => Ok(30),
        "viewer" => Ok(20),
        _ => gitlab_access_level(role),
    }
}

/// Harbor's project role id for a name: `projectAdmin` 1, `developer` 2,
/// `guest` 3, `maintainer` 4, `limitedGuest` 5.
pub fn harbor_role_id(name: &str) -> Result<u32, String> {
    let n: String = name.trim().chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
    match n.as_str() {
        "projectadmin" | "admin" => Ok(1),
        "developer" => Ok(2),
        "guest" | "viewer" => Ok(3),
        "maintainer" => Ok(4),
        "limitedguest" => Ok(5),
        _ => Err(format!("unknown Harbor role {name:?} (projectAdmin, maintainer, developer, guest or limitedGuest)")),
    }
}

/// The Harbor role an organization role grants in the organization's
/// project.
pub fn harbor_role_for_role(role: &str) -> Result<u32, String> {
    match role.trim().to_ascii_lowercase().trim_end_matches('s') {
        "admin" => Ok(1),
        "developer" => Ok(2),
        "viewer" => Ok(3),
        _ => harbor_role_id(role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auto: bool, roles: &[&str], pattern: Option<&str>) -> PlatformSettings {
        PlatformSettings {
            auto_create_role_subgroups: auto,
            default_roles: roles.iter().map(|r| r.to_string()).collect(),
            subgroup_name_pattern: pattern.map(str::to_string),
        }
    }

    #[test]
    fn role_subgroups_follow_the_platform_settings() {
        let names =
            |s: &PlatformSettings| role_subgroups(s, "acme-corp").into_iter().map(|(_, n)| n).collect::<Vec<_>>();
        let cases: [(PlatformSettings, &[&str]); 6] = [
            (
                settings(true, &["admins", "developers", "viewers"], Some("{org}-{role}")),
                &["acme-corp-admins", "acme-corp-developers", "acme-corp-viewers"],
            ),
            (settings(true, &[], None), &["acme-corp-admins", "acme-corp-developers", "acme-corp-viewers"]),
            (settings(true, &["ops", "ops", " "], Some("{role}@{org}")), &["ops@acme-corp"]),
            (settings(true, &["admins"], Some("   ")), &["acme-corp-admins"]),
            (settings(true, &["admins"], Some("team-{role}")), &["team-admins"]),
            (settings(false, &["admins"], None), &[]),
        ];
        for (s, want) in cases {
            assert_eq!(names(&s), want, "{s:?}");
        }
    }

    #[test]
    fn contact_roles_find_their_subgroup() {
        let roles = role_subgroups(&settings(true, &[], None), "acme");
        let of = |r: &str| subgroup_role_of(r, &roles).map(|(_, n)| n.as_str());
        assert_eq!(of("developer"), Some("acme-developers"));
        assert_eq!(of("admins"), Some("acme-admins"));
        assert_eq!(of("Viewer"), Some("acme-viewers"));
        assert_eq!(of("auditor"), None);
    }

    #[test]
    fn policies_name_their_project() {
        assert_eq!(
            project_policy("p, proj:{project}:admin, applications, *, {project}/*, allow", "acme-corp"),
            "p, proj:acme-corp:admin, applications, *, acme-corp/*, allow"
        );
        assert_eq!(project_policy("g, x, role:readonly", "p"), "g, x, role:readonly");
    }

    #[test]
    fn quantities_in_bytes() {
        let gi = 1024_i64.pow(3);
        for (q, want) in [
            ("50Gi", 50 * gi),
            ("100Gi", 100 * gi),
            ("1.5Ti", 1536 * gi),
            ("512Mi", 512 * 1024 * 1024),
            ("100G", 100_000_000_000),
            ("1k", 1000),
            ("1e9", 1_000_000_000),
            ("0", 0),
            ("1", 1),
            ("0.5Ki", 512),
            ("0.1", 1),
        ] {
            assert_eq!(quantity_bytes(q), Ok(want), "{q}");
        }
        for q in ["", "Gi", "-5Gi", "50GB", "1.2.3Gi", "500m", "5 Gi", "1e40"] {
            assert!(quantity_bytes(q).is_err(), "{q} refused");
        }
    }

    #[test]
    fn access_levels_and_roles() {
        for (name, level) in [
            ("guest", 10),
            ("Planner", 15),
            ("reporter", 20),
            ("developer", 30),
            ("maintainer", 40),
            ("owner", 50),
            ("40", 40),
        ] {
            assert_eq!(gitlab_access_level(name), Ok(level), "{name}");
        }
        assert!(gitlab_access_level("admin").is_err() && gitlab_access_level("35").is_err());
        for (role, level) in [("admin", 50), ("developer", 30), ("developers", 30), ("viewer", 20), ("maintainer", 40)]
        {
            assert_eq!(gitlab_level_for_role(role), Ok(level), "{role}");
        }
        for (name, id) in [
            ("projectAdmin", 1),
            ("developer", 2),
            ("guest", 3),
            ("maintainer", 4),
            ("limitedGuest", 5),
            ("limited-guest", 5),
        ] {
            assert_eq!(harbor_role_id(name), Ok(id), "{name}");
        }
        assert!(harbor_role_id("owner").is_err());
        for (role, id) in [("admin", 1), ("developer", 2), ("viewer", 3), ("viewers", 3)] {
            assert_eq!(harbor_role_for_role(role), Ok(id), "{role}");
        }
    }
}
