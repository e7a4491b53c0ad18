//! The status-service JSON: `GET /status` (blocks of items with a column
//! per day), `GET /status/{id}` (that day's incidents) and the state words.
//! Shapes follow the status-service examples exactly: `columnsName` is
//! `"current"` then the days (UTC midnights in ms, newest first); a column
//! id is `<column>.<service id>`.

use nines_core::slo::DAY_MS;
use serde::Serialize;

use super::snapshot::{Snapshot, State, Stretch};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    columns_name: Vec<serde_json::Value>,
    blocks: Vec<BlockJson<'a>>,
}

#[derive(Serialize)]
struct BlockJson<'a> {
    name: &'a str,
    items: Vec<ItemJson<'a>>,
}

#[derive(Serialize)]
struct ItemJson<'a> {
    name: &'a str,
    description: &'a str,
    columns: Vec<Column>,
}

#[derive(Serialize)]
struct Column {
    state: &'static str,
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub start_time: i64,
    pub stop_time: i64,
    pub state: &'static str,
}

/// A day's state: the engine's day status mapped like a current status
/// (a day without counted time, UNKNOWN, is `warning`).
fn day_state(s: nines_core::Status) -> &'static str {
    State::of(s).as_str()
}

pub fn status(s: &Snapshot) -> Vec<u8> {
    let n = s.items.first().map_or(0, |i| i.days.len());
    let mut columns_name = vec![serde_json::Value::from("current")];
    for k in (0..n).rev() {
        columns_name.push((s.first_day + k as i64 * DAY_MS).into());
    }
    let blocks = s
        .blocks
        .iter()
        .map(|b| BlockJson {
            name: &b.name,
            items: b
                .shown
                .iter()
                .map(|sh| {
                    let it = &s.items[sh.item];
                    let mut columns = Vec::with_capacity(n + 1);
                    columns.push(Column {
                        state: State::of(it.status).as_str(),
                        id: format!("current.{}", it.service_id),
                    });
                    for k in (0..n).rev() {
                        columns.push(Column {
                            state: day_state(it.days[k].status),
                            id: format!("{}.{}", s.first_day + k as i64 * DAY_MS, it.service_id),
                        });
                    }
                    ItemJson { name: &sh.name, description: sh.description.as_deref().unwrap_or(""), columns }
                })
                .collect(),
        })
        .collect();
    serde_json::to_vec(&Status { columns_name, blocks }).unwrap_or_else(|_| b"{}".to_vec())
}

/// Incidents as the status-service lists them: seconds, `warning`/`error`,
/// neighbours of the same state merged.
pub fn incidents(list: &[Stretch]) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    for st in list {
        let state = State::of(st.status).as_str();
        let (from, to) = (st.from.div_euclid(1000), st.to.div_euclid(1000));
        match out.last_mut() {
            Some(l) if l.state == state && l.stop_time == from => l.stop_time = to,
            _ => out.push(Incident { start_time: from, stop_time: to, state }),
        }
    }
    out
}
