//! Small builders for report documents: the fixed document of the golden
//! JSON snapshot and the PDF tests, and a document of any number of services
//! for the size test and the benchmark. Deterministic: no clock, no random.

use nines_core::Criticality;
use nines_core::StorageLevel;
use nines_core::clock::Millis;
use nines_core::slo::{Condition, tier};

use crate::document::*;

const DAY_MS: Millis = 86_400_000;
const HOUR_MS: Millis = 3_600_000;

/// Builds a document for one report day; organizations are added with
/// [`DocumentBuilder::organization`].
pub struct DocumentBuilder {
    doc: ReportDocument,
}

impl DocumentBuilder {
    /// A report for 2026-11-20 in Europe/Berlin (UTC+1 in November),
    /// generated at 07:00 local time the next morning.
    pub fn new() -> DocumentBuilder {
        // 2026-11-20T00:00:00+01:00
        let day_start: Millis = 1_795_129_200_000;
        let month_start = day_start - 19 * DAY_MS;
        DocumentBuilder {
            doc: ReportDocument {
                schema_version: SCHEMA_VERSION,
                report_date: "2026-11-20".into(),
                period: Period {
                    time_zone: "Europe/Berlin".into(),
                    day: TimeSpan { start: day_start, end: day_start + DAY_MS },
                    month_to_date: TimeSpan { start: month_start, end: day_start + DAY_MS },
                    partial_until: None,
                },
                generated_at: day_start + DAY_MS + 7 * HOUR_MS,
                organizations: Vec::new(),
            },
        }
    }

    pub fn day_start(&self) -> Millis {
        self.doc.period.day.start
    }

    pub fn organization(mut self, org: OrganizationReport) -> DocumentBuilder {
        self.doc.organizations.push(org);
        self
    }

    pub fn build(self) -> ReportDocument {
        self.doc
    }
}

impl Default for DocumentBuilder {
    fn default() -> Self {
        DocumentBuilder::new()
    }
}

/// An organization with nothing in it yet.
pub fn organization(name: &str, sla_target: f64) -> OrganizationReport {
    OrganizationReport {
        name: name.into(),
        overall: OverallAvailability {
            sla_target,
            availability: DayAndMonth { day: None, month_to_date: None },
            sla_met: DayAndMonth { day: None, month_to_date: None },
        },
        sla_groups: Vec::new(),
        services: Vec::new(),
        downtimes: Vec::new(),
        maintenance_windows: Vec::new(),
        backups_overdue: Vec::new(),
        storage_critical: Vec::new(),
        certificates_expiring: Vec::new(),
        daily_availability: Vec::new(),
        observability: None,
    }
}

/// A service at its tier's SLA target with SLO 99.9 %; availabilities and
/// budget are derived from the downtime minutes so the figures agree.
pub fn service(
    id: i64,
    name: &str,
    node_id: &str,
    c: Criticality,
    down_day_min: f64,
    down_month_min: f64,
) -> ServiceReport {
    let sla_target = tier(c).uptime_target;
    let slo_target = 99.9_f64.max(sla_target);
    let avail = |down: f64, minutes: f64| 100.0 * (1.0 - down / minutes);
    let day = avail(down_day_min, 1440.0);
    let month = avail(down_month_min, 20.0 * 1440.0);
    let budget_seconds = 20.0 * 86_400.0 * (100.0 - slo_target) / 100.0;
    let remaining_seconds = budget_seconds - down_month_min * 60.0;
    let mut conditions = Vec::new();
    if month < slo_target {
        conditions.push(Condition::SloBreach);
    } else if remaining_seconds < budget_seconds / 2.0 {
        conditions.push(Condition::SloWarning);
    }
    if month < sla_target {
        conditions.push(Condition::SlaBreach);
    }
    ServiceReport {
        id,
        name: name.into(),
        node_id: node_id.into(),
        sla_group: None,
        tier: c.tier(),
        criticality: c,
        slo_target,
        sla_target,
        availability: DayAndMonth { day: Some(round3(day)), month_to_date: Some(round3(month)) },
        downtime_minutes: DayAndMonth { day: down_day_min, month_to_date: down_month_min },
        error_budget: ErrorBudgetRemaining {
            remaining_seconds: remaining_seconds.round(),
            remaining_percent: round3(100.0 * remaining_seconds / budget_seconds),
        },
        conditions,
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Daily availability for the 20 days of November up to the report day.
fn daily(seed: u64) -> Vec<DailyAvailability> {
    (1..=20)
        .map(|d| DailyAvailability {
            date: format!("2026-11-{d:02}"),
            availability: match (d as u64 * 7 + seed) % 11 {
                _ if d == 9 => None,
                0 => Some(99.412),
                3 => Some(99.951),
                5 => Some(99.987),
                _ => Some(100.0),
            },
        })
        .collect()
}

/// The fixed document of the golden snapshot and the PDF tests: two
/// organizations, SLA groups, breaches, an excluded downtime, an ongoing
/// one, maintenance, overdue backups, critical storage, expiring certificates.
pub fn sample_document() -> ReportDocument {
    let b = DocumentBuilder::new();
    let t0 = b.day_start();

    let mut acme = organization("acme", 99.9);
    acme.overall.availability = DayAndMonth { day: Some(99.931), month_to_date: Some(99.874) };
    acme.overall.sla_met = DayAndMonth { day: Some(true), month_to_date: Some(false) };
    let mut api = service(1, "payment-api", "acme/shop/prod/eu-1", Criticality::Critical, 12.0, 47.0);
    api.sla_group = Some("payment-system".into());
    let mut db = service(2, "payment-db", "acme/shop/prod/eu-1", Criticality::Critical, 0.0, 0.0);
    db.sla_group = Some("payment-system".into());
    let mut galera = service(3, "galera-node1", "acme/infra/prod/baremetal", Criticality::High, 0.0, 3.5);
    galera.sla_group = Some("payment-system".into());
    let web = service(4, "storefront", "acme/shop/prod/eu-2", Criticality::Medium, 0.0, 12.0);
    let mut wiki = service(5, "internal-wiki", "unknown", Criticality::Low, 0.0, 0.0);
    wiki.availability = DayAndMonth { day: None, month_to_date: Some(100.0) };
    acme.services = vec![api, db, galera, web, wiki];
    acme.sla_groups = vec![SlaGroupReport {
        name: "payment-system".into(),
        mode: "all".into(),
        sla_target: 99.99,
        availability: DayAndMonth { day: Some(99.167), month_to_date: Some(99.825) },
        sla_met: DayAndMonth { day: Some(false), month_to_date: Some(false) },
        members: vec![1, 2, 3],
    }];
    acme.downtimes = vec![
        DowntimeReport {
            id: 41,
            title: "Payment API returns 503".into(),
            services: vec!["payment-api".into()],
            start: t0 + 9 * HOUR_MS + 14 * 60_000,
            end: Some(t0 + 9 * HOUR_MS + 26 * 60_000),
            duration_seconds: 12 * 60,
            counts_towards_sla: true,
            excluded_reason: None,
            severity: "critical".into(),
        },
        DowntimeReport {
            id: 38,
            title: "Galera quorum lost during network test".into(),
            services: vec!["galera-node1".into(), "payment-api".into()],
            start: t0 - 6 * DAY_MS + 2 * HOUR_MS,
            end: Some(t0 - 6 * DAY_MS + 2 * HOUR_MS + 210_000),
            duration_seconds: 210,
            counts_towards_sla: false,
            excluded_reason: Some("Caused by an announced provider network test (ticket NET-1182)".into()),
            severity: "major".into(),
        },
        DowntimeReport {
            id: 42,
            title: "Storefront checkout slow".into(),
            services: vec!["storefront".into()],
            start: t0 + DAY_MS + 5 * HOUR_MS,
            end: None,
            duration_seconds: 2 * 3600,
            counts_towards_sla: true,
            excluded_reason: None,
            severity: "minor".into(),
        },
    ];
    acme.maintenance_windows = vec![MaintenanceWindowReport {
        title: "PostgreSQL 17.4 upgrade".into(),
        start: t0 - 3 * DAY_MS + 22 * HOUR_MS,
        end: t0 - 3 * DAY_MS + 23 * HOUR_MS,
        services: vec!["payment-db".into()],
    }];
    acme.backups_overdue = vec![
        BackupOverdue {
            service: "payment-db".into(),
            node_id: "acme/shop/prod/eu-1".into(),
            last_backup_at: Some(t0 - 2 * DAY_MS + 2 * HOUR_MS),
            max_age_days: 1,
        },
        BackupOverdue {
            service: "internal-wiki".into(),
            node_id: "unknown".into(),
            last_backup_at: None,
            max_age_days: 7,
        },
    ];
    acme.storage_critical = vec![StorageCritical {
        service: "payment-db".into(),
        node_id: "acme/shop/prod/eu-1".into(),
        free_percent: 6.5,
        used_bytes: Some(100_394_860_544),
        allocated_bytes: Some(107_374_182_400),
        level: StorageLevel::Critical,
    }];
    acme.certificates_expiring = vec![
        CertificateExpiring {
            service: "storefront".into(),
            subject: "shop.acme.example".into(),
            not_after: t0 + 9 * DAY_MS,
            days_remaining: 8,
        },
        CertificateExpiring {
            service: "internal-wiki".into(),
            subject: "wiki.acme.internal".into(),
            not_after: t0 - 2 * DAY_MS,
            days_remaining: -3,
        },
    ];
    acme.daily_availability = daily(0);

    let mut globex = organization("globex", 99.5);
    globex.overall.availability = DayAndMonth { day: Some(100.0), month_to_date: Some(99.991) };
    globex.overall.sla_met = DayAndMonth { day: Some(true), month_to_date: Some(true) };
    globex.services = vec![service(10, "globex-portal", "globex/web/prod/us-1", Criticality::Medium, 0.0, 2.5)];
    globex.daily_availability = daily(4);

    b.organization(acme).organization(globex).build()
}

/// One organization with `n` services over 50 clusters, 40 SLA groups, a
/// downtime per 100 services and some of every list: the scale figure of
/// the issue (10,000 services).
pub fn large_document(n: usize) -> ReportDocument {
    let b = DocumentBuilder::new();
    let t0 = b.day_start();
    let mut org = organization("bigcorp", 99.9);
    org.overall.availability = DayAndMonth { day: Some(99.95), month_to_date: Some(99.93) };
    org.overall.sla_met = DayAndMonth { day: Some(true), month_to_date: Some(true) };
    org.services = (0..n)
        .map(|i| {
            let c = Criticality::ALL[i % 4];
            let down = ((i * 37) % 50) as f64 / 2.0;
            let mut s = service(
                i as i64 + 1,
                &format!("service-{i:05}-{}", ["api", "worker", "db", "cache", "frontend"][i % 5]),
                &format!("bigcorp/platform-{}/prod/cluster-{:02}", i % 3, i % 50),
                c,
                if i % 7 == 0 { down / 4.0 } else { 0.0 },
                down,
            );
            s.sla_group = Some(format!("group-{:02}", i % 40));
            s
        })
        .collect();
    org.sla_groups = (0..40)
        .map(|g| SlaGroupReport {
            name: format!("group-{g:02}"),
            mode: "all".into(),
            sla_target: 99.9,
            availability: DayAndMonth { day: Some(99.97), month_to_date: Some(99.95) },
            sla_met: DayAndMonth { day: Some(true), month_to_date: Some(true) },
            members: (0..n).filter(|i| i % 40 == g).map(|i| i as i64 + 1).collect(),
        })
        .collect();
    org.downtimes = (0..n / 100)
        .map(|k| DowntimeReport {
            id: k as i64,
            title: format!("Outage {k} in cluster-{:02}", k % 50),
            services: (0..3).map(|j| format!("service-{:05}", (k * 100 + j) % n.max(1))).collect(),
            start: t0 - (k as i64 % 19) * DAY_MS + HOUR_MS,
            end: Some(t0 - (k as i64 % 19) * DAY_MS + HOUR_MS + 600_000),
            duration_seconds: 600,
            counts_towards_sla: k % 5 != 0,
            excluded_reason: (k % 5 == 0).then(|| "Announced provider maintenance".to_string()),
            severity: ["critical", "major", "minor"][k % 3].into(),
        })
        .collect();
    org.maintenance_windows = (0..n / 500)
        .map(|k| MaintenanceWindowReport {
            title: format!("Node upgrades cluster-{:02}", k % 50),
            start: t0 - (k as i64 % 19) * DAY_MS,
            end: t0 - (k as i64 % 19) * DAY_MS + 2 * HOUR_MS,
            services: vec![format!("service-{:05}", k)],
        })
        .collect();
    org.backups_overdue = (0..n / 200)
        .map(|k| BackupOverdue {
            service: format!("service-{:05}-db", k * 5 + 2),
            node_id: format!("bigcorp/platform-0/prod/cluster-{:02}", k % 50),
            last_backup_at: Some(t0 - 3 * DAY_MS),
            max_age_days: 1,
        })
        .collect();
    org.storage_critical = (0..n / 200)
        .map(|k| StorageCritical {
            service: format!("service-{:05}-db", k * 5 + 2),
            node_id: format!("bigcorp/platform-0/prod/cluster-{:02}", k % 50),
            free_percent: 4.0,
            used_bytes: Some(96 << 30),
            allocated_bytes: Some(100 << 30),
            level: StorageLevel::Critical,
        })
        .collect();
    org.certificates_expiring = (0..n / 200)
        .map(|k| CertificateExpiring {
            service: format!("service-{:05}-frontend", k * 5 + 4),
            subject: format!("svc{k}.bigcorp.example"),
            not_after: t0 + (k as i64 % 14) * DAY_MS,
            days_remaining: k as i64 % 14,
        })
        .collect();
    org.daily_availability = daily(2);
    b.organization(org).build()
}
