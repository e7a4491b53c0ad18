//! `/metrics` in the Prometheus text format. Names follow
//! `nines_<thing>_<unit>[_total]`; labels are bounded (one series per
//! service, per burn window). The figures are the SLO engine's, refreshed by
//! the SLO worker, so a scrape costs nothing.

use nines_core::slo;
use nines_store::Store;
use std::fmt::Write;
use std::sync::RwLock;

use crate::config::SloConfig;
use crate::esc;
use crate::observability::ObsSeries;

#[derive(Default)]
pub struct Metrics {
    slo_text: RwLock<String>,
    /// Observability accounting per organization (`nines_org_*`).
    obs: ObsSeries,
}

/// The exposition `text` cut to one organization's series: comment lines
/// stay, a series stays when its `organization` label is `org` (every series
/// nines exposes carries one).
pub fn only_organization(text: &str, org: &str) -> String {
    let label = format!("organization=\"{}\"", esc(org));
    let mine = |line: &str| {
        line.find(&label).is_some_and(|i| {
            let before = line.as_bytes().get(i.wrapping_sub(1)).copied();
            let after = line.as_bytes().get(i + label.len()).copied();
            i > 0 && matches!(before, Some(b'{' | b',')) && matches!(after, Some(b',' | b'}'))
        })
    };
    let mut out = String::with_capacity(text.len() / 2);
    for line in text.lines().filter(|l| l.starts_with('#') || mine(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Metrics {
    /// Recompute the SLO series from the engine.
    pub async fn refresh(&self, store: &Store, now: i64, cfg: &SloConfig) -> nines_store::Result<()> {
        let w = slo::Span { from: now - cfg.slo_window_days * slo::DAY_MS, to: now };
        let b = crate::slo::bulk(store, None, w, cfg).await?;
        let subjects: Vec<_> = b.items.iter().map(|(s, ..)| s.clone()).collect();
        let recent = crate::slo::bulk_recent(store, &subjects, None, now).await?;
        let window = format!("{}d", cfg.slo_window_days);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP nines_slo_availability_ratio Availability over the SLO window (good / counted time)."
        );
        let _ = writeln!(out, "# TYPE nines_slo_availability_ratio gauge");
        let mut budget = String::new();
        let _ = writeln!(
            budget,
            "# HELP nines_error_budget_remaining_ratio Share of the SLO window's error budget left (negative when overspent)."
        );
        let _ = writeln!(budget, "# TYPE nines_error_budget_remaining_ratio gauge");
        let mut burn = String::new();
        let _ =
            writeln!(burn, "# HELP nines_burn_rate Error-budget burn rate over the window (1 = exactly the budget).");
        let _ = writeln!(burn, "# TYPE nines_burn_rate gauge");
        for (s, acc, slo_t, _) in &b.items {
            let labels = format!(
                "organization=\"{}\",node_id=\"{}\",service=\"{}\",id=\"{}\"",
                esc(&s.organization),
                esc(&s.node_id),
                esc(&s.name),
                s.id
            );
            if let Some(a) = acc.availability() {
                let _ = writeln!(out, "nines_slo_availability_ratio{{{labels},window=\"{window}\"}} {a}");
            }
            let e = slo::error_budget(acc, *slo_t, cfg.thresholds);
            // too little history (SLO_MIN_HISTORY_MINUTES): no budget and no
            // burn rates to alert on, as nines raises no alert of its own
            if e.state == slo::BudgetState::InsufficientData {
                continue;
            }
            if e.total_seconds > 0.0 {
                let _ = writeln!(
                    budget,
                    "nines_error_budget_remaining_ratio{{{labels},window=\"{window}\"}} {}",
                    e.remaining_seconds / e.total_seconds
                );
            }
            if let Some((i, t)) = recent.get(&s.id) {
                let p = crate::slo::policy_for(s, cfg);
                for (name, a) in crate::slo::burn_accounts(*i, t, now, s.created_at, &p) {
                    if let Some(r) = slo::burn_rate(&a, *slo_t) {
                        let _ = writeln!(burn, "nines_burn_rate{{{labels},window=\"{name}\"}} {r}");
                    }
                }
            }
        }
        out.push_str(&budget);
        out.push_str(&burn);
        if let Ok(mut g) = self.slo_text.write() {
            *g = out;
        }
        self.refresh_observability(store, now).await
    }

    /// Recompute the `nines_org_*` series from the accounting rows.
    pub async fn refresh_observability(&self, store: &Store, now: i64) -> nines_store::Result<()> {
        self.obs.refresh(store, now).await
    }

    /// The `nines_org_*` series, for the accounting worker to refresh.
    pub fn observability_series(&self) -> ObsSeries {
        self.obs.clone()
    }

    pub fn render(&self) -> String {
        let mut s = self.slo_text.read().map(|g| g.clone()).unwrap_or_default();
        s.push_str(&self.obs.text());
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_organization_sees_its_own_series_only() {
        let text = "# HELP a x\n# TYPE a gauge\na{organization=\"acme\",id=\"1\"} 1\n\
                    a{organization=\"acme2\",id=\"2\"} 1\na{service=\"organization=\\\"acme\\\"\",organization=\"globex\"} 1\n\
                    b{check=\"1/h\",organization=\"acme\"} 0\nc 3\n";
        let got = super::only_organization(text, "acme");
        assert_eq!(
            got,
            "# HELP a x\n# TYPE a gauge\na{organization=\"acme\",id=\"1\"} 1\nb{check=\"1/h\",organization=\"acme\"} 0\n"
        );
    }
}
