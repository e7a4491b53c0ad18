//! The `dns` check: one query of `recordType` for `queryName`, at the
//! configured `server` or the system's resolver, without a cache. Every
//! `expectedAnswers` entry must be among the answers (case and trailing dot
//! ignored; an MX answer matches `10 mail.example.com` or `mail.example.com`).

use std::time::Instant;

use hickory_resolver::proto::rr::{RData, RecordType};

use crate::config::{DnsCheck, RecordKind, parse_server};
use crate::net::{self, ProbeEnv};
use crate::result::{ErrorKind, ProbeResult, Timings};

/// Run one `dns` check. Never panics; the caller bounds it in time.
pub async fn probe(check: &DnsCheck, env: &ProbeEnv, t: &mut Timings) -> ProbeResult {
    let start = Instant::now();
    let r = run(check, env).await;
    t.total = start.elapsed();
    t.dns = Some(t.total);
    r
}

fn record_type(k: RecordKind) -> RecordType {
    match k {
        RecordKind::A => RecordType::A,
        RecordKind::Aaaa => RecordType::AAAA,
        RecordKind::Cname => RecordType::CNAME,
        RecordKind::Mx => RecordType::MX,
        RecordKind::Txt => RecordType::TXT,
        RecordKind::Ns => RecordType::NS,
    }
}

async fn run(check: &DnsCheck, env: &ProbeEnv) -> ProbeResult {
    let own;
    let resolver = match &check.server {
        None => &env.resolver,
        Some(s) => {
            let addr = match parse_server(s) {
                Ok(a) => a,
                Err(e) => return ProbeResult::down(ErrorKind::InvalidConfig, e),
            };
            own = match net::build_resolver(Some(addr)) {
                Ok(r) => r,
                Err(e) => return ProbeResult::down(ErrorKind::InvalidConfig, e.to_string()),
            };
            &own
        }
    };
    let kind = check.record_type;
    // A trailing dot makes the name absolute: no search-domain walk (ndots).
    let name =
        if check.query_name.ends_with('.') { check.query_name.clone() } else { format!("{}.", check.query_name) };
    let lookup = match resolver.lookup(name.as_str(), record_type(kind)).await {
        Ok(l) => l,
        Err(e) => return net::dns_error(&check.query_name, kind.as_str(), &e),
    };
    let answers: Vec<String> = lookup.answers().iter().filter_map(|r| format_rdata(&r.data)).collect();
    if answers.is_empty() {
        return ProbeResult::down(
            ErrorKind::DnsNoRecords,
            format!("DNS failure: no {} records for {}", kind.as_str(), check.query_name),
        );
    }
    if let Some(expected) = &check.expected_answers {
        let missing: Vec<&str> =
            expected.iter().filter(|e| !answers.iter().any(|a| answer_matches(a, e))).map(String::as_str).collect();
        if !missing.is_empty() {
            return ProbeResult::down(
                ErrorKind::DnsAnswerMismatch,
                format!(
                    "DNS {} {} lacks {} (got {})",
                    kind.as_str(),
                    check.query_name,
                    missing.join(", "),
                    answers.join(", ")
                ),
            );
        }
    }
    ProbeResult::up(format!("{} {}: {}", kind.as_str(), check.query_name, answers.join(", ")))
}

fn format_rdata(d: &RData) -> Option<String> {
    Some(match d {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(n) => n.0.to_string(),
        RData::NS(n) => n.0.to_string(),
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange),
        RData::TXT(txt) => txt.txt_data.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<String>(),
        _ => return None,
    })
}

fn norm(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn answer_matches(answer: &str, expected: &str) -> bool {
    let (a, e) = (norm(answer), norm(expected));
    if a == e {
        return true;
    }
    // MX: `10 mail.example.com` also matches `mail.example.com`.
    a.split_once(' ').is_some_and(|(pref, host)| pref.parse::<u16>().is_ok() && host == e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_match_loosely() {
        assert!(answer_matches("mail.example.com.", "Mail.Example.com"));
        assert!(answer_matches("10 mail.example.com.", "mail.example.com"));
        assert!(answer_matches("10 mail.example.com.", "10 mail.example.com."));
        assert!(!answer_matches("10.0.0.1", "10.0.0.2"));
        assert!(!answer_matches("v=spf1 -all", "spf1"));
    }
}
