//! Paging, the same for every list of the API.
//!
//! A list takes `limit` (1 to 1,000, default 100) and `cursor` (the
//! `nextCursor` of the page before) and answers a [`Page`]. The cursor is
//! the key of the last item given, in the list's own order, encoded as
//! base64url JSON: the next page starts after that key, so it neither
//! repeats nor skips items when others are added or removed in between.
//! Lists the database orders and limits (downtimes) fetch one row more than
//! the page with [`Paging::fetch`] and close it with [`Paging::close`]; the
//! others are read whole (they are bounded by the organization: its keys,
//! channels, checks …) and cut here with [`Paging::page`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nines_core::FieldError;

use crate::error::ApiError;
use nines_core::wire::Page;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `limit` and `cursor`, as the API documents them for every list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by `split`, declared for the documentation
pub struct PageQuery {
    /// At most this many items (1 to 1000, default 100).
    limit: Option<i64>,
    /// Where to go on: the `nextCursor` of the page before.
    cursor: Option<String>,
}

/// Take `limit` and `cursor` off a raw query string: the paging, checked,
/// and the rest for the list's own filters (parsed as strictly as before).
pub fn split(raw: Option<String>) -> Result<(Paging, Option<String>), ApiError> {
    let Some(raw) = raw else { return Ok((Paging::new(None, None)?, None)) };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw)
        .map_err(|e| FieldError::new("query", "invalid_query", format!("query string: {e}")))?;
    let (mut limit, mut cursor, mut rest) = (None, None, Vec::new());
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => {
                rest.push((k, v));
                continue;
            }
        };
        if slot.replace(v).is_some() {
            return Err(FieldError::invalid(k, "given twice").into());
        }
    }
    let limit = match limit {
        None => None,
        Some(l) => Some(l.parse::<i64>().map_err(|_| FieldError::invalid("limit", format!("{l:?} is not a number")))?),
    };
    let paging = Paging::new(limit, cursor.as_deref())?;
    let rest = serde_urlencoded::to_string(&rest).unwrap_or_default();
    Ok((paging, (!rest.is_empty()).then_some(rest)))
}

/// The paging of a list that takes no other parameter.
pub fn only(raw: Option<String>) -> Result<Paging, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    let (paging, rest) = split(raw)?;
    crate::extract::parse_query::<Nothing>(rest)?;
    Ok(paging)
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// `limit` and `cursor` of a list request, checked.
#[derive(Debug, Clone)]
pub struct Paging {
    pub limit: usize,
    cursor: Option<serde_json::Value>,
}

impl Paging {
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, FieldError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
            Some(n) => return Err(FieldError::invalid("limit", format!("{n}: from 1 to {MAX_LIMIT}"))),
        };
        let cursor = match cursor {
            None => None,
            Some(c) => Some(
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| bad_cursor(c))?,
            ),
        };
        Ok(Paging { limit, cursor })
    }

    /// The key the previous page ended at, if a cursor was given.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, FieldError> {
        match &self.cursor {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| FieldError::invalid("cursor", "not a cursor of this list")),
        }
    }

    /// One page of a list held whole: `items` are put in the order of
    /// `key` (ascending; wrap a part in `Reverse` for newest first) and
    /// the page starts after the cursor's key.
    pub fn page<T, K>(&self, mut items: Vec<T>, key: impl Fn(&T) -> K) -> Result<Page<T>, FieldError>
    where
        K: Ord + Serialize + DeserializeOwned,
    {
        // one key per item, not one per comparison (keys hold strings)
        items.sort_by_cached_key(|i| key(i));
        let start = match self.after::<K>()? {
            None => 0,
            Some(after) => items.partition_point(|i| key(i) <= after),
        };
        let mut items: Vec<T> = items.into_iter().skip(start).collect();
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let next_cursor = if more { items.last().map(|i| encode(&key(i))) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// The row limit for a query that pages in the database: one more than
    /// the page, so that the extra row tells whether a next page exists.
    pub fn fetch(&self) -> i64 {
        self.limit as i64 + 1
    }

    /// Close a page of rows fetched in order with [`Paging::fetch`].
    pub fn close<T, K: Serialize>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> Page<T> {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let next_cursor = if more { rows.last().map(|r| encode(&key(r))) } else { None };
        Page { items: rows, next_cursor }
    }
}

fn encode<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

fn bad_cursor(c: &str) -> FieldError {
    let shown: String = c.chars().take(40).collect();
    FieldError::invalid(
        "cursor",
        format!("{shown:?} is not a cursor this server gave (pass the nextCursor of the page before)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    fn walk(items: Vec<i64>, limit: i64, key: impl Fn(&i64) -> Reverse<i64> + Copy) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let p = Paging::new(Some(limit), cursor.as_deref()).unwrap().page(items.clone(), key).unwrap();
            pages.push(p.items);
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_its_order() {
        let pages = walk(vec![3, 9, 1, 7, 5], 2, |i| Reverse(*i));
        assert_eq!(pages, vec![vec![9, 7], vec![5, 3], vec![1]]);
        // a page that ends the list exactly says so: no empty page after it
        assert_eq!(walk(vec![1, 2, 3, 4], 2, |i| Reverse(*i)), vec![vec![4, 3], vec![2, 1]]);
        assert_eq!(walk(vec![], 2, |i| Reverse(*i)), vec![Vec::<i64>::new()]);
    }

    #[test]
    fn an_item_removed_meanwhile_neither_repeats_nor_skips_the_others() {
        let first = Paging::new(Some(2), None).unwrap().page(vec![1, 2, 3, 4, 5], |i| *i).unwrap();
        assert_eq!(first.items, vec![1, 2]);
        // 2 (the last given) and 4 are gone, 0 is new: the next page is 3, 5
        let next = Paging::new(Some(2), first.next_cursor.as_deref()).unwrap().page(vec![0, 1, 3, 5], |i| *i).unwrap();
        assert_eq!(next.items, vec![3, 5]);
        assert!(next.next_cursor.is_none());
    }

    #[test]
    fn bad_limits_and_cursors_are_named() {
        for l in [0, -1, 1001] {
            let e = Paging::new(Some(l), None).unwrap_err();
            assert_eq!(e.field, "limit", "{l}");
        }
        for c in ["not base64!", "e30", "bm9wZQ"] {
            // "e30" is {} (not a key of this list), "bm9wZQ" is `nope` (not JSON)
            let r = Paging::new(None, Some(c)).and_then(|p| p.page(vec![1_i64], |i| *i));
            assert_eq!(r.unwrap_err().field, "cursor", "{c}");
        }
        assert_eq!(Paging::new(None, None).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn the_paging_is_taken_off_the_query_and_the_rest_kept() {
        let (p, rest) = split(Some("nodeId=acme%2Fx&limit=5&tag=a+b".into())).unwrap();
        assert_eq!(p.limit, 5);
        assert_eq!(rest.as_deref(), Some("nodeId=acme%2Fx&tag=a+b"));
        let (p, rest) = split(None).unwrap();
        assert_eq!((p.limit, rest), (DEFAULT_LIMIT, None));
        assert!(split(Some("limit=ten".into())).is_err());
        assert!(split(Some("limit=1&limit=2".into())).is_err());
        assert!(only(Some("limit=3".into())).is_ok());
        assert!(only(Some("state=open".into())).is_err());
    }

    #[test]
    fn a_database_page_closes_on_the_extra_row() {
        let p = Paging::new(Some(2), None).unwrap();
        assert_eq!(p.fetch(), 3);
        let page = p.close(vec![10, 20, 30], |r| *r);
        assert_eq!(page.items, vec![10, 20]);
        let after: i64 = Paging::new(None, page.next_cursor.as_deref()).unwrap().after().unwrap().unwrap();
        assert_eq!(after, 20);
        assert!(p.close(vec![10, 20], |r| *r).next_cursor.is_none());
    }
}
