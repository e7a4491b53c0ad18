//! The notification pipeline of a running server.
//!
//! Producers record events in the database in the transaction of the change
//! they report: the downtime worker (opened, resolved), the condition
//! watchers here (backups overdue, storage critical, certificates, agents
//! silent — the last called by the probe engine's silence check) and the
//! SLO worker (burn-rate page/ticket). Each event row is unique by its dedup
//! key; a condition (`notify_conditions`) notifies once when it is raised and
//! once when it clears, however many ticks or replicas see it.
//!
//! The notifier runs on every replica: it fans new events out to deliveries
//! (routes of the event's organization; without routes, every enabled
//! channel of it), then claims due deliveries in the database, sends them
//! through `nines-notify`, and records each attempt under its claim (see
//! `nines_store::notifications` for why that is once per delivery). A
//! replica that dies mid-send leaves a claim that expires after
//! [`NotifyConfig::claim_ttl_ms`]; the delivery is then sent again with the
//! same `X-Nines-Delivery` id, which receivers deduplicate by.
//!
//! Status-page subscribers are sent to by the same loop ([`pages`]).
//!
//! What does not live here: rendering and the channels (`nines-notify`), the
//! HTTP API (nines-server's `api::notifications`), the claim's SQL
//! (`nines-store`).

pub mod pages;
pub mod seal;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nines_core::clock::{Clock, Millis};
use nines_core::model::CertificateStatus;
use nines_core::{Criticality, Status, StorageLevel};
use nines_notify::event::{self as ev, AlertState, BurnSeverity, Event, ServiceRef};
use nines_notify::{Channel, ChannelConfig, Message, Outcome, RetryPolicy, RouteRule};
use nines_store::notifications::{AttemptRow, ClaimedDelivery, DowntimeSnapshot, EventRow, NewEvent};
use nines_store::{ServiceFilter, ServiceRecord, Store};
use tokio::sync::{Mutex, watch};

use crate::leadership::Leadership;
pub use seal::SecretKey;

/// Settings of the notifier.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// How often the notifier looks for new events and due deliveries.
    pub every: Duration,
    /// How often the leader looks at backups, storage and certificates.
    pub watch_every: Duration,
    /// The base of links in messages; default `http://<listen address>`.
    pub public_url: Option<String>,
    /// Seals channel secrets; every replica on one database needs the same.
    /// `None`: a random key for this process only (tests, throwaway runs).
    pub key: Option<SecretKey>,
    /// How long a claim on a delivery lasts without renewal; the sender
    /// renews it every third of this while it sends, so a replica that died
    /// mid-send leaves it to be retaken within this (plus one notifier pass).
    pub claim_ttl_ms: i64,
    pub retry: RetryPolicy,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            every: Duration::from_secs(1),
            watch_every: Duration::from_secs(60),
            public_url: None,
            key: None,
            claim_ttl_ms: 20_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// Storage turns critical below this much free space …
pub const STORAGE_CRITICAL_BELOW_PERCENT: f64 = 10.0;
/// … and stops being critical only at this much: a volume hovering around
/// the threshold does not notify with every report.
pub const STORAGE_CLEAR_AT_PERCENT: f64 = 12.0;
/// Certificates notify this long before they expire.
pub const CERTIFICATE_WARN_DAYS: i64 = 30;

/// The notifier's shared state: the key, the links' base, built channels.
pub struct Notifier {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: NotifyConfig,
    pub key: SecretKey,
    pub base_url: String,
    pub replica: String,
    /// Built channels by id, with the `updated_at` they were built from.
    channels: Mutex<HashMap<i64, (Millis, Arc<Channel>)>>,
}

impl Notifier {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: NotifyConfig, listen: &str, replica: &str) -> Notifier {
        let key = config.key.clone().unwrap_or_else(|| {
            tracing::warn!(
                "no key for notification channel secrets configured: using one for this process only; \
                 channels created now cannot be read after a restart or by other replicas"
            );
            SecretKey::generate().unwrap_or_else(|_| SecretKey::from_bytes([7; 32]))
        });
        let base_url =
            config.public_url.clone().unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_string();
        Notifier {
            store,
            clock,
            config,
            key,
            base_url,
            replica: replica.to_string(),
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn context(org: &str) -> String {
        format!("nines-notify-channel:{org}")
    }

    /// Seal a channel config for storage in `org`.
    pub fn seal(&self, org: &str, c: &ChannelConfig) -> Result<String, String> {
        let json = serde_json::to_vec(c).map_err(|e| e.to_string())?;
        self.key.seal(&Self::context(org), &json)
    }

    /// Open a stored channel config.
    pub fn open(&self, org: &str, sealed: &str) -> Result<ChannelConfig, String> {
        let plain = self.key.open(&Self::context(org), sealed)?;
        let s = String::from_utf8(plain).map_err(|_| "sealed config is not UTF-8".to_string())?;
        ChannelConfig::from_json(&s).map_err(|e| format!("stored config no longer parses: {e}"))
    }

    pub(crate) async fn channel(&self, id: i64) -> Result<Option<Arc<Channel>>, String> {
        let Some(row) = self.store.get_channel(id).await.map_err(|e| e.to_string())? else { return Ok(None) };
        if let Some((at, c)) = self.channels.lock().await.get(&id)
            && *at == row.updated_at
        {
            return Ok(Some(c.clone()));
        }
        let cfg = self.open(&row.organization, &row.config_sealed)?;
        let built = Arc::new(Channel::build(&cfg).map_err(|e| format!("cannot build the channel: {e}"))?);
        let mut cache = self.channels.lock().await;
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(id, (row.updated_at, built.clone()));
        Ok(Some(built))
    }

    /// One pass: fan out new events, then send what is due.
    pub async fn tick(&self) -> nines_store::Result<usize> {
        self.fan_out().await?;
        let n = self.send_due().await?;
        Ok(n + pages::send_due(self).await?)
    }

    /// Turn new events into deliveries, one per channel the routes pick.
    pub async fn fan_out(&self) -> nines_store::Result<usize> {
        let events = self.store.unrouted_events(200).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let channels = self.store.list_channels(None).await?;
        let routes = self.store.list_routes(None).await?;
        let now = self.clock.now_ms();
        let mut made = 0;
        for e in &events {
            let targets: Vec<i64> = match to_event(e) {
                // nothing to say (a downtime without services): no deliveries
                Some(event) if Message::new("probe", event.clone(), &self.base_url).is_some() => {
                    let enabled: Vec<i64> = channels
                        .iter()
                        .filter(|c| c.organization == e.organization && c.enabled)
                        .map(|c| c.id)
                        .collect();
                    let rules: Vec<RouteRule> = routes
                        .iter()
                        .filter(|r| r.organization == e.organization)
                        .filter_map(|r| serde_json::from_str(&r.rule).ok())
                        .collect();
                    if rules.is_empty() {
                        enabled
                    } else {
                        nines_notify::route(&rules, &event)
                            .into_iter()
                            .filter_map(|c| c.parse::<i64>().ok())
                            .filter(|c| enabled.contains(c))
                            .collect()
                    }
                }
                Some(_) => Vec::new(),
                None => {
                    tracing::error!(event_id = e.id, kind = %e.kind, "cannot read a notification event; skipped");
                    Vec::new()
                }
            };
            if self.store.route_event(e.id, &e.organization, &targets, now).await? {
                made += targets.len();
            }
        }
        Ok(made)
    }

    /// Claim the deliveries that are due and send them, concurrently.
    pub async fn send_due(&self) -> nines_store::Result<usize> {
        let now = self.clock.now_ms();
        let ids = self.store.due_deliveries(now, 32).await?;
        let mut claims = Vec::new();
        for id in ids {
            if let Some(c) = self.store.claim_delivery(id, now, now + self.config.claim_ttl_ms).await? {
                claims.push(c);
            }
        }
        let n = claims.len();
        let held: Vec<(i64, String)> = claims.iter().map(|c| (c.id, c.token.clone())).collect();
        let sending = futures_util::future::join_all(claims.iter().map(|c| self.send(c)));
        tokio::pin!(sending);
        let every = std::time::Duration::from_millis((self.config.claim_ttl_ms / 3).max(100) as u64);
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let results = loop {
            tokio::select! {
                r = &mut sending => break r,
                _ = renew.tick() => {
                    let until = self.clock.now_ms() + self.config.claim_ttl_ms;
                    if let Err(e) = self.store.renew_claims(&held, until).await {
                        tracing::warn!(error = %e, "renewing delivery claims failed");
                    }
                }
            }
        };
        for r in results {
            r?;
        }
        Ok(n)
    }

    async fn send(&self, claim: &ClaimedDelivery) -> nines_store::Result<()> {
        let attempt_no = claim.attempts as u32 + 1;
        let now = self.clock.now_ms();
        let failed = |error: String| AttemptRow {
            attempt: attempt_no as i64,
            at: now,
            duration_ms: 0,
            outcome: "failed".into(),
            status_code: None,
            error: Some(error),
            next_attempt_at: None,
            replica: self.replica.clone(),
        };
        let message = to_event(&claim.event)
            .and_then(|e| Message::new(format!("nines-{}-{}", claim.event.id, claim.channel_id), e, &self.base_url));
        let record = match (message, self.channel(claim.channel_id).await) {
            (None, _) => failed("the event cannot be rendered".into()),
            (_, Ok(None)) => failed("channel deleted".into()),
            (_, Err(e)) => failed(e),
            (Some(msg), Ok(Some(ch))) => {
                let a =
                    nines_notify::deliver(ch.as_ref(), &msg, attempt_no, &self.config.retry, self.clock.as_ref()).await;
                AttemptRow {
                    attempt: a.attempt as i64,
                    at: a.at,
                    duration_ms: a.duration_ms,
                    outcome: match a.outcome {
                        Outcome::Delivered => "delivered",
                        Outcome::Retrying => "retrying",
                        Outcome::Failed => "failed",
                    }
                    .into(),
                    status_code: a.status_code.map(i64::from),
                    error: a.error,
                    next_attempt_at: a.next_attempt_at,
                    replica: self.replica.clone(),
                }
            }
        };
        if !self.store.finish_delivery(claim, &record).await? {
            tracing::warn!(
                delivery_id = claim.id,
                "the claim on a delivery expired while sending; another replica owns it now"
            );
        }
        Ok(())
    }

    /// The leader's look at backups and storage: raise and clear conditions.
    pub async fn watch_conditions(&self) -> nines_store::Result<usize> {
        let now = self.clock.now_ms();
        let services = self.store.list_services(&ServiceFilter::default()).await?;
        let windows = self.store.list_maintenance(None).await?;
        let in_maintenance = |r: &ServiceRecord| {
            let v = &r.view;
            crate::maintenance::active(&windows, &v.organization, v.id, &v.node_id, v.sla_group.as_deref(), now)
                .is_some()
        };
        let mut backups: Vec<Condition> = Vec::new();
        let mut storage: Vec<Condition> = Vec::new();
        for r in &services {
            let service = service_ref(r);
            let org = r.view.organization.clone();
            if let Some(b) = r.backup(now) {
                let last = b.last_success.as_deref().and_then(|t| nines_core::clock::parse_rfc3339(t).ok());
                let event = |cleared: bool| {
                    Event::BackupOverdue(ev::Backup {
                        organization: org.clone(),
                        service: service.clone(),
                        last_backup_at: last,
                        expected_every_seconds: (b.max_age_days * 86_400.0) as u64,
                        at: now,
                        cleared_at: cleared.then_some(now),
                    })
                };
                backups.push(Condition {
                    key: format!("backup:{}", r.view.id),
                    on: b.overdue,
                    hold: false,
                    quiet: in_maintenance(r),
                    silent_clear: false,
                    raise: event(false),
                    clear: event(true),
                });
            }
            // no figure yet: nothing to warn about (and nothing healthy either)
            if let Some(s) = r.storage()
                && let Some(free) = s.free_percent
            {
                let used = s.used_bytes.unwrap_or(0);
                let event = |cleared: bool| {
                    Event::StorageCritical(ev::Storage {
                        organization: org.clone(),
                        service: service.clone(),
                        used_bytes: used,
                        total_bytes: s.allocated_bytes.unwrap_or(used),
                        free_percent: free,
                        at: now,
                        cleared_at: cleared.then_some(now),
                    })
                };
                let critical = s.level == StorageLevel::Critical && free < STORAGE_CRITICAL_BELOW_PERCENT;
                storage.push(Condition {
                    key: format!("storage:{}", r.view.id),
                    on: critical,
                    // between the thresholds: stay as it is
                    hold: !critical && free < STORAGE_CLEAR_AT_PERCENT,
                    quiet: in_maintenance(r),
                    silent_clear: false,
                    raise: event(false),
                    clear: event(true),
                });
            }
        }
        let mut n = reconcile(&self.store, "backup:", &backups, now).await?;
        n += reconcile(&self.store, "storage:", &storage, now).await?;
        n += reconcile(&self.store, "cert:", &self.certificate_conditions(now).await?, now).await?;
        Ok(n)
    }

    /// Two conditions per certificate: `cert:<id>:expiring` (expires within
    /// 30 days, or has expired) ends with "renewed"; `cert:<id>:expired`
    /// says when it expired and ends silently, the renewal being told once.
    async fn certificate_conditions(&self, now: Millis) -> nines_store::Result<Vec<Condition>> {
        let mut out = Vec::new();
        for c in self.store.list_certificates(None).await? {
            let Some(not_after) = c.not_after else { continue };
            let status = c.status_at(now);
            let service = ServiceRef {
                id: format!("certificate-{}", c.id),
                name: if c.namespace.is_empty() { c.name.clone() } else { format!("{}/{}", c.namespace, c.name) },
                node_id: c.node_id.clone(),
                status: Status::Operational,
                criticality: Criticality::default(),
                tags: Vec::new(),
                url: Some(nines_notify::render::Links::new(&self.base_url).certificate(c.id)),
                reason: None,
            };
            let cert = |cleared: bool| ev::Certificate {
                organization: c.organization.clone(),
                service: service.clone(),
                subject: c.dns_names.first().cloned().unwrap_or_else(|| c.name.clone()),
                not_after,
                at: now,
                cleared_at: cleared.then_some(now),
            };
            let expired = status == CertificateStatus::Expired;
            out.push(Condition {
                key: format!("cert:{}:expiring", c.id),
                on: expired || status == CertificateStatus::ExpiringSoon,
                hold: false,
                quiet: false,
                silent_clear: false,
                raise: Event::CertificateExpiring(cert(false)),
                clear: Event::CertificateExpiring(cert(true)),
            });
            out.push(Condition {
                key: format!("cert:{}:expired", c.id),
                on: expired,
                hold: false,
                quiet: false,
                silent_clear: true,
                raise: Event::CertificateExpired(cert(false)),
                clear: Event::CertificateExpired(cert(true)),
            });
        }
        Ok(out)
    }
}

/// A condition as a watcher sees it now.
pub struct Condition {
    /// `family:object`, e.g. `backup:42`.
    pub key: String,
    pub on: bool,
    /// Keep the current state whatever `on` says (hysteresis).
    pub hold: bool,
    /// Do not raise now (maintenance); clearing still happens.
    pub quiet: bool,
    /// Clear without a message (another condition speaks for the end).
    pub silent_clear: bool,
    pub raise: Event,
    pub clear: Event,
}

/// Bring the raised conditions under `prefix` in line with `seen`: raise
/// what is on and not raised, clear what is raised and off — or gone (its
/// service was deleted: cleared without a message).
pub async fn reconcile(store: &Store, prefix: &str, seen: &[Condition], now: Millis) -> nines_store::Result<usize> {
    let raised = store.raised_conditions(prefix).await?;
    let changed = apply_conditions(store, seen, &raised, now).await?;
    let known: HashSet<&str> = seen.iter().map(|c| c.key.as_str()).collect();
    drop_gone(store, &raised, &known).await?;
    Ok(changed)
}

/// The raise and clear half of [`reconcile`], against `raised` as read
/// before: callers with many conditions build and apply those that changed
/// a slice at a time, then call [`drop_gone`] once.
pub async fn apply_conditions(
    store: &Store,
    seen: &[Condition],
    raised: &HashMap<String, Millis>,
    now: Millis,
) -> nines_store::Result<usize> {
    let mut changed = 0;
    for c in seen {
        let was = raised.get(&c.key);
        if c.hold {
            continue;
        }
        let new = |e: &Event, what: &str, since: Millis| NewEvent {
            dedup_key: format!("{}:{what}:{since}", c.key),
            subject: Some(c.key.clone()),
            kind: e.kind().as_str().to_string(),
            organization: e.organization().to_string(),
            payload: serde_json::to_string(e).unwrap_or_default(),
            at: now,
        };
        match (c.on, was) {
            (true, None) if !c.quiet => {
                changed += store.set_condition(&c.key, true, &new(&c.raise, "raised", now), now).await? as usize;
            }
            (false, Some(_)) if c.silent_clear => store.clear_condition_silently(&c.key).await?,
            (false, Some(since)) => {
                changed += store.set_condition(&c.key, false, &new(&c.clear, "cleared", *since), now).await? as usize;
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// The other half of [`reconcile`]: a raised condition whose key is not
/// `known` lost its object (a deleted service) and is dropped silently.
pub async fn drop_gone(
    store: &Store,
    raised: &HashMap<String, Millis>,
    known: &HashSet<&str>,
) -> nines_store::Result<()> {
    for (key, since) in raised {
        if !known.contains(key.as_str()) {
            store.clear_condition_silently(key).await?;
            tracing::info!(key, since, "condition dropped with its object");
        }
    }
    Ok(())
}

/// A service as messages show it.
pub fn service_ref(r: &ServiceRecord) -> ServiceRef {
    ServiceRef {
        id: r.view.id.to_string(),
        name: r.view.service.clone(),
        node_id: r.view.node_id.clone(),
        status: r.view.status,
        criticality: r.view.criticality,
        tags: r.view.tags.clone(),
        url: None,
        reason: None,
    }
}

/// A burn-rate alert as a condition: key `slo:<service>:<page|ticket>`.
pub fn burn_condition(
    service: ServiceRef,
    organization: &str,
    severity: BurnSeverity,
    on: bool,
    rates: nines_core::slo::BurnRates,
    slo_target_percent: f64,
    now: Millis,
) -> Condition {
    let key = format!("slo:{}:{}", service.id, severity.as_str());
    let event = |state| {
        Event::SloBurnRate(ev::BurnRate {
            organization: organization.to_string(),
            service: service.clone(),
            severity,
            state,
            burn_rates: rates,
            slo_target_percent,
            at: now,
        })
    };
    Condition {
        key,
        on,
        hold: false,
        quiet: false,
        silent_clear: false,
        raise: event(AlertState::Raised),
        clear: event(AlertState::Cleared),
    }
}

/// An agent as the silence check sees it, for one organization whose
/// checks it runs (an agent of an every-organization key is seen once for
/// each organization).
#[derive(Debug, Clone)]
pub struct AgentSeen {
    /// `agent:<organization>:<location>` (or `agent:*:<location>:<org>`).
    pub key: String,
    pub organization: String,
    pub location: String,
    pub version: Option<String>,
    pub last_seen: Millis,
    pub silent_after_ms: i64,
    pub silent: bool,
    /// The checks it runs for this organization.
    pub checks: usize,
    /// Their services, for the message and routing.
    pub service_ids: Vec<i64>,
}

/// The agents' watcher: raise `agent:` conditions for silent agents and
/// clear them for agents back, each once. Only the conditions that change
/// are built (they read their services).
pub async fn watch_agents(store: &Store, seen: &[AgentSeen], now: Millis) -> nines_store::Result<usize> {
    let raised = store.raised_conditions("agent:").await?;
    let known: HashSet<&str> = seen.iter().map(|a| a.key.as_str()).collect();
    let changed: Vec<&AgentSeen> = seen.iter().filter(|a| a.silent != raised.contains_key(&a.key)).collect();
    if changed.is_empty() && raised.keys().all(|k| known.contains(k.as_str())) {
        return Ok(0);
    }
    let mut ids: Vec<i64> = changed.iter().flat_map(|a| a.service_ids.iter().copied()).collect();
    ids.sort();
    ids.dedup();
    let records: HashMap<i64, ServiceRecord> =
        store.services_by_id(&ids).await?.into_iter().map(|r| (r.view.id, r)).collect();
    let conditions: Vec<Condition> = changed
        .iter()
        .map(|a| {
            let services: Vec<ServiceRef> =
                a.service_ids.iter().filter_map(|id| records.get(id)).map(service_ref).collect();
            let event = |cleared: bool| {
                Event::AgentSilent(ev::Agent {
                    organization: a.organization.clone(),
                    location: a.location.clone(),
                    version: a.version.clone(),
                    last_seen: a.last_seen,
                    silent_after_seconds: (a.silent_after_ms / 1000).max(0) as u64,
                    checks: a.checks as u64,
                    services: services.clone(),
                    at: now,
                    cleared_at: cleared.then_some(now),
                })
            };
            Condition {
                key: a.key.clone(),
                on: a.silent,
                hold: false,
                quiet: false,
                silent_clear: false,
                raise: event(false),
                clear: event(true),
            }
        })
        .collect();
    let n = apply_conditions(store, &conditions, &raised, now).await?;
    drop_gone(store, &raised, &known).await?;
    Ok(n)
}

/// The notification event of a stored event row; `None` when unreadable.
pub fn to_event(e: &EventRow) -> Option<Event> {
    match e.kind.as_str() {
        "downtime_opened" | "downtime_resolved" => {
            let s: DowntimeSnapshot = serde_json::from_str(&e.payload).ok()?;
            let d = downtime(s);
            Some(if e.kind == "downtime_opened" { Event::DowntimeOpened(d) } else { Event::DowntimeResolved(d) })
        }
        _ => serde_json::from_str(&e.payload).ok(),
    }
}

/// A stored downtime snapshot as a notification's downtime.
pub fn downtime(s: DowntimeSnapshot) -> ev::Downtime {
    ev::Downtime {
        id: s.id.to_string(),
        title: s.title,
        // critical → critical; major and minor → warning (Alertmanager's scale)
        severity: if s.severity == "critical" { ev::Severity::Critical } else { ev::Severity::Warning },
        severity_label: Some(s.severity.clone()),
        classification: s.classification,
        organization: s.organization,
        services: s
            .services
            .into_iter()
            .map(|m| ServiceRef {
                id: m.id.to_string(),
                name: m.name,
                node_id: m.node_id,
                status: m.status,
                criticality: m.criticality,
                tags: m.tags,
                url: None,
                reason: m.reason,
            })
            .collect(),
        started_at: s.started_at,
        resolved_at: s.resolved_at,
        duration_ms: None,
        counts_towards_sla: s.counts_towards_sla,
        excluded_reason: s.excluded_reason,
        url: None,
    }
}

/// A sample event for `POST …/channels/{id}/test`.
pub fn test_event(org: &str, now: Millis) -> Event {
    Event::DowntimeOpened(ev::Downtime {
        id: "test".into(),
        title: "Test notification from nines".into(),
        severity: ev::Severity::Info,
        classification: Some("test".into()),
        organization: org.to_string(),
        services: vec![ServiceRef {
            id: "test".into(),
            name: "example-service".into(),
            node_id: format!("{org}/platform/environment/cluster"),
            status: Status::Down,
            criticality: Criticality::Low,
            tags: Vec::new(),
            url: None,
            reason: None,
        }],
        started_at: now,
        resolved_at: None,
        duration_ms: None,
        counts_towards_sla: false,
        excluded_reason: Some("test".into()),
        url: None,
        severity_label: None,
    })
}

/// The notifier loop (every replica) and, while leader, the condition
/// watchers.
pub async fn run(n: Arc<Notifier>, me: Leadership, mut stop: watch::Receiver<bool>) {
    let mut last_watch: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(n.config.every) => {}
            _ = stop.changed() => return,
        }
        if me.leads() && last_watch.is_none_or(|t| t.elapsed() >= n.config.watch_every) {
            last_watch = Some(tokio::time::Instant::now());
            if let Err(e) = n.watch_conditions().await {
                tracing::error!(error = %e, "watching backups and storage failed");
            }
            crate::leadership::Passes::done(&me.passes.watches);
        }
        if let Err(e) = n.tick().await {
            tracing::error!(error = %e, "notifier pass failed");
        }
        crate::leadership::Passes::done(&me.passes.notifier);
    }
}
