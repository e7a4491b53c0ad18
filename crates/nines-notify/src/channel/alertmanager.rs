//! Alertmanager API v2: `POST {url}/api/v2/alerts` with a list of postable
//! alerts. An alert's identity is its label set, so a downtime becomes one
//! alert per service (labels `alertname=NinesDowntime`, `downtime_id`,
//! `service`, `node_id`, …): a service that recovers inside a still-open
//! downtime resolves its own alert. Firing alerts carry `endsAt = now +
//! alertTtlSeconds` so Alertmanager resolves them itself should nines never
//! send the resolution; resolutions carry the real end.

use std::collections::BTreeMap;

use nines_core::Status;
use nines_core::clock::{Millis, rfc3339};
use serde::{Deserialize, Serialize};

use super::{Delivery, Notifier, execute, header_map, http_client};
use crate::config::AlertmanagerConfig;
use crate::error::{BuildError, SendError};
use crate::event::{Event, ServiceRef};
use crate::render::{Links, Message};

/// One alert as `POST /api/v2/alerts` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

#[derive(Debug)]
pub struct AlertmanagerChannel {
    config: AlertmanagerConfig,
    endpoint: String,
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
}

impl AlertmanagerChannel {
    pub fn new(config: AlertmanagerConfig) -> Result<Self, BuildError> {
        Ok(AlertmanagerChannel {
            endpoint: format!("{}/api/v2/alerts", config.url.trim_end_matches('/')),
            client: http_client(config.timeout_seconds)?,
            headers: header_map(&config.headers)?,
            config,
        })
    }

    /// The alerts for a message, sent at `now`.
    pub fn alerts(&self, msg: &Message, now: Millis) -> Vec<PostableAlert> {
        alerts(msg, now, &self.config.extra_labels, self.config.alert_ttl_seconds)
    }
}

fn alert_name(e: &Event) -> &'static str {
    match e {
        Event::DowntimeOpened(_) | Event::DowntimeUpdated(_) | Event::DowntimeResolved(_) => "NinesDowntime",
        Event::CertificateExpiring(_) => "NinesCertificateExpiring",
        Event::CertificateExpired(_) => "NinesCertificateExpired",
        Event::BackupOverdue(_) => "NinesBackupOverdue",
        Event::StorageCritical(_) => "NinesStorageCritical",
        Event::SloBurnRate(_) => "NinesSloBurnRate",
        Event::AgentSilent(_) => "NinesAgentSilent",
    }
}

/// Build the alerts: pure, for tests and previews.
pub fn alerts(
    msg: &Message,
    now: Millis,
    extra_labels: &BTreeMap<String, String>,
    ttl_seconds: u64,
) -> Vec<PostableAlert> {
    let e = &msg.event;
    let firing_end = now + (ttl_seconds as i64) * 1000;
    let base = |s: &ServiceRef| {
        let mut l = extra_labels.clone();
        l.insert("alertname".into(), alert_name(e).into());
        l.insert("severity".into(), e.severity().as_str().into());
        l.insert("organization".into(), e.organization().into());
        l.insert("service".into(), s.name.clone());
        l.insert("node_id".into(), s.node_id.clone());
        l.insert("criticality".into(), s.criticality.as_str().into());
        l.insert("source".into(), "nines".into());
        l
    };
    let annotations = |link: &str| {
        BTreeMap::from([
            ("summary".to_string(), msg.rendered.title.clone()),
            ("description".to_string(), msg.rendered.plain()),
            ("link".to_string(), link.to_string()),
        ])
    };
    let one = |labels: BTreeMap<String, String>, start: Millis, end: Millis| PostableAlert {
        labels,
        annotations: annotations(&msg.rendered.link),
        starts_at: rfc3339(start.min(end)),
        ends_at: rfc3339(end),
        generator_url: msg.rendered.link.clone(),
    };
    match e {
        Event::DowntimeOpened(d) | Event::DowntimeUpdated(d) | Event::DowntimeResolved(d) => {
            let resolved_at = matches!(e, Event::DowntimeResolved(_)).then(|| d.resolved_at.unwrap_or(now));
            d.services
                .iter()
                .map(|s| {
                    let mut l = base(s);
                    l.insert("downtime_id".into(), d.id.clone());
                    if let Some(c) = &d.classification {
                        l.insert("classification".into(), c.clone());
                    }
                    let end = match resolved_at {
                        Some(r) => r,
                        None if s.status == Status::Operational => now,
                        None => firing_end,
                    };
                    let mut a = one(l, d.started_at, end);
                    a.annotations.insert("service_link".into(), Links::new(&msg.base_url).service(s));
                    a
                })
                .collect()
        }
        Event::CertificateExpiring(c) | Event::CertificateExpired(c) => {
            let mut l = base(&c.service);
            l.insert("subject".into(), c.subject.clone());
            vec![one(l, c.at, c.cleared_at.unwrap_or(firing_end))]
        }
        Event::BackupOverdue(b) => vec![one(base(&b.service), b.at, b.cleared_at.unwrap_or(firing_end))],
        Event::StorageCritical(s) => vec![one(base(&s.service), s.at, s.cleared_at.unwrap_or(firing_end))],
        Event::SloBurnRate(b) => {
            let mut l = base(&b.service);
            l.insert("slo_alert".into(), b.severity.as_str().into());
            let end = if e.is_resolution() { b.at } else { firing_end };
            vec![one(l, b.at, end)]
        }
        Event::AgentSilent(a) => {
            // about a location, not a service
            let mut l = extra_labels.clone();
            l.insert("alertname".into(), alert_name(e).into());
            l.insert("severity".into(), e.severity().as_str().into());
            l.insert("organization".into(), a.organization.clone());
            l.insert("location".into(), a.location.clone());
            l.insert("source".into(), "nines".into());
            vec![one(l, a.at, a.cleared_at.unwrap_or(firing_end))]
        }
    }
}

impl Notifier for AlertmanagerChannel {
    async fn send(&self, msg: &Message, now: Millis) -> Result<Delivery, SendError> {
        let alerts = self.alerts(msg, now);
        execute(self.client.post(&self.endpoint).headers(self.headers.clone()).json(&alerts)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AlertState, BurnRate, BurnSeverity};
    use crate::render::tests::{T0, downtime, svc};

    fn msg(e: Event) -> Message {
        Message::new("m", e, "https://nines.example").unwrap()
    }

    #[test]
    fn a_downtime_is_one_alert_per_service_and_recovered_services_resolve() {
        let mut d = downtime();
        d.services[1].status = Status::Operational;
        let now = T0 + 600_000;
        let a = alerts(&msg(Event::DowntimeUpdated(d.clone())), now, &BTreeMap::new(), 3600);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].labels["alertname"], "NinesDowntime");
        assert_eq!(a[0].labels["service"], "api-gateway");
        assert_eq!(a[0].labels["downtime_id"], "42");
        assert_eq!(a[0].labels["classification"], "unplanned");
        assert_eq!(a[0].starts_at, "2026-11-21T04:00:00.000Z");
        assert_eq!(a[0].ends_at, "2026-11-21T05:10:00.000Z", "firing: now + ttl");
        assert_eq!(a[1].ends_at, "2026-11-21T04:10:00.000Z", "auth recovered: resolved now");
        assert_eq!(a[0].annotations["service_link"], "https://nines.example/ui/services/7");
        assert_eq!(a[0].generator_url, "https://nines.example/ui/downtimes/42");

        d.resolved_at = Some(T0 + 300_000);
        let a = alerts(&msg(Event::DowntimeResolved(d)), now, &BTreeMap::new(), 3600);
        assert!(a.iter().all(|x| x.ends_at == "2026-11-21T04:05:00.000Z"));
    }

    #[test]
    fn burn_rate_alerts_clear_with_their_time() {
        let b = BurnRate {
            organization: "acme".into(),
            service: svc("7", "api-gateway", Status::Degraded),
            severity: BurnSeverity::Ticket,
            state: AlertState::Cleared,
            burn_rates: Default::default(),
            slo_target_percent: 99.9,
            at: T0,
        };
        let a = alerts(&msg(Event::SloBurnRate(b)), T0 + 1000, &BTreeMap::new(), 3600);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].labels["severity"].as_str(), a[0].labels["slo_alert"].as_str()), ("warning", "ticket"));
        assert_eq!(a[0].ends_at, "2026-11-21T04:00:00.000Z");
    }
}
