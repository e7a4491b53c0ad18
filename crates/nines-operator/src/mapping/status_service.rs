//! StatusService readiness from EndpointSlices (status-service seed): `ok`
//! while at least one endpoint is ready, `warning` from the moment none is,
//! `error` once none has been ready for 10 minutes.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use nines_core::Status;

/// How long no ready endpoint is a warning before it is an error.
pub const ERROR_AFTER: SignedDuration = SignedDuration::from_mins(10);
/// Label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceState {
    Ok,
    Warning,
    Error,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Ok => "ok",
            ServiceState::Warning => "warning",
            ServiceState::Error => "error",
        }
    }

    /// DESIGN: ok = OPERATIONAL, warning = DEGRADED, error = DOWN.
    pub fn status(self) -> Status {
        match self {
            ServiceState::Ok => Status::Operational,
            ServiceState::Warning => Status::Degraded,
            ServiceState::Error => Status::Down,
        }
    }
}

/// Ready endpoints of a Service over its slices; an endpoint whose `ready`
/// is unset counts as ready (the EndpointSlice API says so).
pub fn ready_endpoints<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> usize {
    slices
        .into_iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .count()
}

/// The state now and the new `notReadySince` to store.
pub fn evaluate(ready: usize, not_ready_since: Option<Timestamp>, now: Timestamp) -> (ServiceState, Option<Timestamp>) {
    if ready > 0 {
        return (ServiceState::Ok, None);
    }
    let since = not_ready_since.unwrap_or(now);
    let state = if now.duration_since(since) >= ERROR_AFTER { ServiceState::Error } else { ServiceState::Warning };
    (state, Some(since))
}

/// A group is as bad as its worst member (`ok` when empty).
pub fn group_state(members: impl IntoIterator<Item = ServiceState>) -> ServiceState {
    members.into_iter().max().unwrap_or(ServiceState::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_over_time() {
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let m = |n: i64| t0 + SignedDuration::from_mins(n);
        // (ready, notReadySince, now, state, new notReadySince)
        let rows = [
            (2, None, t0, ServiceState::Ok, None),
            (1, Some(t0), m(30), ServiceState::Ok, None),
            (0, None, t0, ServiceState::Warning, Some(t0)),
            (0, Some(t0), m(9), ServiceState::Warning, Some(t0)),
            (0, Some(t0), m(10), ServiceState::Error, Some(t0)),
            (0, Some(t0), m(60), ServiceState::Error, Some(t0)),
        ];
        for (ready, since, now, state, new_since) in rows {
            assert_eq!(evaluate(ready, since, now), (state, new_since), "{ready} {since:?} {now}");
        }
        assert_eq!(ServiceState::Error.status(), Status::Down);
        assert_eq!(group_state([ServiceState::Ok, ServiceState::Warning]), ServiceState::Warning);
        assert_eq!(group_state([]), ServiceState::Ok);
    }

    #[test]
    fn counts_ready_endpoints_across_slices() {
        let slice = |ready: &[Option<bool>]| -> EndpointSlice {
            serde_json::from_value(serde_json::json!({
                "addressType": "IPv4",
                "endpoints": ready.iter().map(|r| match r {
                    Some(b) => serde_json::json!({"addresses": ["10.0.0.1"], "conditions": {"ready": b}}),
                    None => serde_json::json!({"addresses": ["10.0.0.1"]}),
                }).collect::<Vec<_>>()
            }))
            .unwrap()
        };
        let slices = [slice(&[Some(true), Some(false)]), slice(&[None])];
        assert_eq!(ready_endpoints(&slices), 2);
        assert_eq!(ready_endpoints(&[slice(&[Some(false)])]), 0);
    }
}
