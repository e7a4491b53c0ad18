//! Status pages and what hangs off them: a page's settings (slug, title,
//! branding, custom domain, which groups it shows), the public updates of
//! downtimes, a page's subscribers and the messages waiting for them.
//!
//! Subscriber tokens (confirmation and unsubscribe links, webhook signing
//! secrets) are not stored: the server derives them from its key and the
//! subscriber's id. Messages are written in the transaction of the update
//! that causes them and sent by the notifier, so an acknowledged update
//! reaches its subscribers after a crash.

use nines_core::clock::Millis;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::Conn;
use crate::statuspage::bump_version;
use crate::{Result, Store};

/// A link in a page's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLink {
    pub title: String,
    pub url: String,
}

/// A status group a page shows, named by its organization and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageGroupRef {
    pub organization: String,
    pub group: String,
}

/// Whether a page of `organization` (None: of every organization) that
/// lists `groups` (none: every public group) shows the group `group` of
/// `org`.
pub fn page_shows(organization: Option<&str>, groups: &[PageGroupRef], org: &str, group: &str) -> bool {
    if organization.is_some_and(|o| o != org) {
        return false;
    }
    groups.is_empty() || groups.iter().any(|g| g.organization == org && g.group == group)
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageRow {
    pub id: i64,
    pub slug: String,
    /// The organization whose page this is; None for a page across organizations.
    pub organization: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub logo_url: Option<String>,
    pub links: Vec<PageLink>,
    pub footer: Option<String>,
    pub custom_domain: Option<String>,
    pub is_default: bool,
    /// The groups shown; empty: every public group of the organization
    /// (or, on a page across organizations, of every organization).
    pub groups: Vec<PageGroupRef>,
    /// The email channel whose SMTP server sends to subscribers.
    pub email_channel_id: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl PageRow {
    /// Whether this page shows the group `group` of `org` ([`page_shows`]).
    pub fn shows(&self, org: &str, group: &str) -> bool {
        page_shows(self.organization.as_deref(), &self.groups, org, group)
    }
}

/// A public update of a downtime.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRow {
    pub id: i64,
    pub downtime_id: i64,
    pub organization: String,
    /// investigating, identified, monitoring or resolved.
    pub status: String,
    pub body: String,
    pub author: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriberRow {
    pub id: i64,
    pub page_id: i64,
    /// `email` or `webhook`.
    pub kind: String,
    /// The address or the URL.
    pub target: String,
    pub confirmed_at: Option<Millis>,
    pub created_at: Millis,
}

/// A message for one subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub subscriber_id: i64,
    pub subject: String,
    /// Plain text for email; a JSON document for webhooks.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscriber: SubscriberRow,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub next_at: Millis,
}

const PAGE_COLUMNS: &str = "id, slug, organization, title, description, logo_url, links, footer, custom_domain, is_default, groups, email_channel_id, created_at, updated_at";

fn page_row(r: &sqlx::any::AnyRow) -> PageRow {
    let links: String = r.get(6);
    let groups: String = r.get(10);
    PageRow {
        id: r.get(0),
        slug: r.get(1),
        organization: r.get(2),
        title: r.get(3),
        description: r.get(4),
        logo_url: r.get(5),
        links: serde_json::from_str(&links).unwrap_or_default(),
        footer: r.get(7),
        custom_domain: r.get(8),
        is_default: r.get::<i64, _>(9) != 0,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        email_channel_id: r.get(11),
        created_at: r.get(12),
        updated_at: r.get(13),
    }
}

fn subscriber_row(r: &sqlx::any::AnyRow, at: usize) -> SubscriberRow {
    SubscriberRow {
        id: r.get(at),
        page_id: r.get(at + 1),
        kind: r.get(at + 2),
        target: r.get(at + 3),
        confirmed_at: r.get(at + 4),
        created_at: r.get(at + 5),
    }
}

async fn insert_deliveries(conn: &mut Conn, list: &[NewDelivery], now: Millis) -> Result<()> {
    for d in list {
        sqlx::query(
            "INSERT INTO page_deliveries (subscriber_id, subject, body, attempts, next_at, created_at) VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(d.subscriber_id)
        .bind(&d.subject)
        .bind(&d.body)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Every page, by slug.
    pub async fn status_pages(&self) -> Result<Vec<PageRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PAGE_COLUMNS} FROM status_pages ORDER BY slug")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(page_row).collect())
    }

    pub async fn status_page(&self, slug: &str) -> Result<Option<PageRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PAGE_COLUMNS} FROM status_pages WHERE slug = $1")))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(page_row))
    }

    /// Create or replace the page `p.slug` (its id and `created_at` are
    /// kept). A default page takes the mark from any other. Returns true
    /// when it was created.
    pub async fn put_status_page(&self, p: &PageRow, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let existed = sqlx::query("SELECT id FROM status_pages WHERE slug = $1")
            .bind(&p.slug)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if p.is_default {
            sqlx::query("UPDATE status_pages SET is_default = 0 WHERE slug <> $1")
                .bind(&p.slug)
                .execute(&mut *conn)
                .await?;
        }
        let links = serde_json::to_string(&p.links).unwrap_or_else(|_| "[]".into());
        let groups = serde_json::to_string(&p.groups).unwrap_or_else(|_| "[]".into());
        let q = if existed {
            "UPDATE status_pages SET organization = $2, title = $3, description = $4, logo_url = $5, links = $6, footer = $7,
                custom_domain = $8, is_default = $9, groups = $10, email_channel_id = $11, updated_at = $12 WHERE slug = $1"
        } else {
            "INSERT INTO status_pages (slug, organization, title, description, logo_url, links, footer, custom_domain, is_default,
                groups, email_channel_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)"
        };
        sqlx::query(q)
            .bind(&p.slug)
            .bind(p.organization.clone())
            .bind(&p.title)
            .bind(p.description.clone())
            .bind(p.logo_url.clone())
            .bind(links)
            .bind(p.footer.clone())
            .bind(p.custom_domain.clone())
            .bind(i64::from(p.is_default))
            .bind(groups)
            .bind(p.email_channel_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(!existed)
    }

    /// Delete a page with its subscribers and their pending messages.
    pub async fn delete_status_page(&self, slug: &str) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let Some(id) = sqlx::query("SELECT id FROM status_pages WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.get::<i64, _>(0))
        else {
            return Ok(false);
        };
        sqlx::query(
            "DELETE FROM page_deliveries WHERE subscriber_id IN (SELECT id FROM page_subscribers WHERE page_id = $1)",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM page_subscribers WHERE page_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM status_pages WHERE id = $1").bind(id).execute(&mut *conn).await?;
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(true)
    }

    /// Post a public update on a downtime, set its public title when one is
    /// given, and queue the messages for subscribers, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_downtime_update(
        &self,
        downtime_id: i64,
        organization: &str,
        status: &str,
        body: &str,
        author: &str,
        public_title: Option<&str>,
        deliveries: &[NewDelivery],
        now: Millis,
    ) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let id: i64 = sqlx::query(
            "INSERT INTO downtime_updates (downtime_id, organization, status, body, author, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(downtime_id)
        .bind(organization)
        .bind(status)
        .bind(body)
        .bind(author)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .get(0);
        if let Some(t) = public_title {
            sqlx::query("UPDATE downtimes SET public_title = $2 WHERE id = $1")
                .bind(downtime_id)
                .bind(t)
                .execute(&mut *conn)
                .await?;
        }
        insert_deliveries(conn, deliveries, now).await?;
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(id)
    }

    /// The public updates of these downtimes, oldest first.
    pub async fn downtime_updates(&self, downtime_ids: &[i64]) -> Result<Vec<UpdateRow>> {
        if downtime_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = downtime_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, downtime_id, organization, status, body, author, created_at FROM downtime_updates
             WHERE downtime_id IN ({list}) ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UpdateRow {
                id: r.get(0),
                downtime_id: r.get(1),
                organization: r.get(2),
                status: r.get(3),
                body: r.get(4),
                author: r.get(5),
                created_at: r.get(6),
            })
            .collect())
    }

    /// The public titles of these downtimes (those that have one).
    pub async fn downtime_public_titles(&self, downtime_ids: &[i64]) -> Result<Vec<(i64, String)>> {
        if downtime_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = downtime_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, public_title FROM downtimes WHERE id IN ({list}) AND public_title IS NOT NULL"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Add a subscriber (an email one unconfirmed) and queue `first` for it
    /// (the confirmation mail). An existing subscription of the same
    /// target is returned as it is, with nothing queued when it is
    /// confirmed. Returns the row and whether it was created.
    pub async fn add_subscriber(
        &self,
        page_id: i64,
        kind: &str,
        target: &str,
        confirmed: bool,
        first: impl FnOnce(&SubscriberRow) -> Option<(String, String)>,
        now: Millis,
    ) -> Result<(SubscriberRow, bool)> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let found = sqlx::query(
            "SELECT id, page_id, kind, target, confirmed_at, created_at FROM page_subscribers
             WHERE page_id = $1 AND kind = $2 AND target = $3",
        )
        .bind(page_id)
        .bind(kind)
        .bind(target)
        .fetch_optional(&mut *conn)
        .await?;
        let (row, created) = match found {
            Some(r) => (subscriber_row(&r, 0), false),
            None => {
                let r = sqlx::query(
                    "INSERT INTO page_subscribers (page_id, kind, target, confirmed_at, created_at) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id, page_id, kind, target, confirmed_at, created_at",
                )
                .bind(page_id)
                .bind(kind)
                .bind(target)
                .bind(confirmed.then_some(now))
                .bind(now)
                .fetch_one(&mut *conn)
                .await?;
                (subscriber_row(&r, 0), true)
            }
        };
        if row.confirmed_at.is_none()
            && let Some((subject, body)) = first(&row)
        {
            insert_deliveries(conn, &[NewDelivery { subscriber_id: row.id, subject, body }], now).await?;
        }
        w.tx.commit().await?;
        Ok((row, created))
    }

    pub async fn subscriber(&self, id: i64) -> Result<Option<SubscriberRow>> {
        let r = sqlx::query(
            "SELECT id, page_id, kind, target, confirmed_at, created_at FROM page_subscribers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(|r| subscriber_row(r, 0)))
    }

    /// A page's subscribers, oldest first; only confirmed ones when asked.
    pub async fn subscribers(&self, page_id: i64, confirmed_only: bool) -> Result<Vec<SubscriberRow>> {
        let rows = sqlx::query(
            "SELECT id, page_id, kind, target, confirmed_at, created_at FROM page_subscribers
             WHERE page_id = $1 AND ($2 = 0 OR confirmed_at IS NOT NULL) ORDER BY id",
        )
        .bind(page_id)
        .bind(i64::from(confirmed_only))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| subscriber_row(r, 0)).collect())
    }

    /// Mark confirmed (once; a second click changes nothing). False when
    /// the subscriber is gone.
    pub async fn confirm_subscriber(&self, id: i64, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE page_subscribers SET confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Remove a subscriber and what waits for it.
    pub async fn delete_subscriber(&self, id: i64) -> Result<bool> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM page_deliveries WHERE subscriber_id = $1").bind(id).execute(&mut *w.tx).await?;
        let r = sqlx::query("DELETE FROM page_subscribers WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Claim up to `limit` due messages: each is pushed `lease_ms` into the
    /// future first, so another replica does not send it meanwhile.
    pub async fn claim_page_deliveries(&self, now: Millis, lease_ms: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(
            "SELECT d.id, d.subject, d.body, d.attempts, d.next_at,
                    s.id, s.page_id, s.kind, s.target, s.confirmed_at, s.created_at
             FROM page_deliveries d JOIN page_subscribers s ON s.id = d.subscriber_id
             WHERE d.sent_at IS NULL AND d.failed_at IS NULL AND d.next_at <= $1 ORDER BY d.next_at, d.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let d = DeliveryRow {
                id: r.get(0),
                subject: r.get(1),
                body: r.get(2),
                attempts: r.get(3),
                next_at: r.get(4),
                subscriber: subscriber_row(r, 5),
            };
            let mut w = self.write_tx().await?;
            let got = sqlx::query(
                "UPDATE page_deliveries SET next_at = $3 WHERE id = $1 AND next_at = $2 AND sent_at IS NULL",
            )
            .bind(d.id)
            .bind(d.next_at)
            .bind(now + lease_ms)
            .execute(&mut *w.tx)
            .await?;
            w.tx.commit().await?;
            if got.rows_affected() == 1 {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Record an attempt: sent, to be retried at `retry_at`, or given up.
    pub async fn page_delivery_attempted(
        &self,
        id: i64,
        now: Millis,
        error: Option<&str>,
        retry_at: Option<Millis>,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        let q = match (error, retry_at) {
            (None, _) => {
                "UPDATE page_deliveries SET attempts = attempts + 1, sent_at = $2, last_error = $3 WHERE id = $1"
            }
            (Some(_), Some(_)) => {
                "UPDATE page_deliveries SET attempts = attempts + 1, next_at = $4, last_error = $3 WHERE id = $1"
            }
            (Some(_), None) => {
                "UPDATE page_deliveries SET attempts = attempts + 1, failed_at = $2, last_error = $3 WHERE id = $1"
            }
        };
        sqlx::query(q)
            .bind(id)
            .bind(now)
            .bind(error.map(str::to_string))
            .bind(retry_at.unwrap_or(now))
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// How many messages were sent, are waiting and failed, per page (for
    /// the page's admin view).
    pub async fn page_delivery_counts(&self, page_id: i64) -> Result<(i64, i64, i64)> {
        let r = sqlx::query(
            "SELECT CAST(COUNT(d.sent_at) AS BIGINT), CAST(COUNT(*) - COUNT(d.sent_at) - COUNT(d.failed_at) AS BIGINT),
                    CAST(COUNT(d.failed_at) AS BIGINT)
             FROM page_deliveries d JOIN page_subscribers s ON s.id = d.subscriber_id WHERE s.page_id = $1",
        )
        .bind(page_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }
}
