//! The PDF as people get it: rendered with krilla, its text extracted with
//! `pdftotext` and its pages rasterised with `pdftoppm` (Debian's
//! `poppler-utils`). Without the binaries the poppler checks print
//! `SKIP poppler: ...` and pass, unless `NINES_TEST_REQUIRE_ALL=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use nines_report::render_pdf;
use nines_report::sample::{large_document, sample_document};

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test output dir");
    dir
}

/// Whether poppler's `tool` can run; panics when required and absent.
fn poppler(tool: &str) -> bool {
    match Command::new(tool).arg("-v").output() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
                panic!(
                    "{tool} is required (NINES_TEST_REQUIRE_ALL=1) but cannot run: {e}; apt-get install poppler-utils"
                );
            }
            println!("SKIP poppler: {tool} not available ({e}); apt-get install poppler-utils");
            false
        }
    }
}

/// The text of `pdf` in reading order, and its page count.
fn pdftotext(pdf: &Path) -> (String, usize) {
    let out = Command::new("pdftotext").arg(pdf).arg("-").output().expect("run pdftotext");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    let raw = String::from_utf8(out.stdout).expect("utf-8 text");
    (raw.clone(), raw.matches('\u{c}').count())
}

/// Whitespace collapsed, and names a table cell broke before `-` or after
/// `/` joined again, so phrases and names can be searched whole.
fn normalize(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace(" -", "-").replace("/ ", "/")
}

#[test]
fn pdf_starts_and_ends_like_a_pdf() {
    let pdf = render_pdf(&sample_document()).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(5).rev().take(64).any(|w| w == b"%%EOF"));
    assert_eq!(pdf, render_pdf(&sample_document()).expect("renders"), "rendering is deterministic");
}

#[test]
fn pdf_text_is_extractable_with_pdftotext() {
    if !poppler("pdftotext") {
        return;
    }
    let dir = out_dir("pdf-text");
    let file = dir.join("report.pdf");
    std::fs::write(&file, render_pdf(&sample_document()).expect("renders")).expect("write pdf");
    let (raw, pages) = pdftotext(&file);
    let text = normalize(&raw);
    for needle in [
        "SLA Report",
        "Report date 2026-11-20",
        "Europe/Berlin",
        "Organization acme",
        "Organization globex",
        "payment-api",
        "galera-node1",
        "globex-portal",
        "99.931 %",
        "99.874 %",
        "NOT MET",
        "SLA_BREACH",
        "Payment API returns 503",
        "Galera quorum lost during network test",
        "announced provider network test",
        "ongoing",
        "PostgreSQL 17.4 upgrade",
        "Backups overdue",
        "never",
        "Storage critical",
        "6.5 %",
        "Certificates expiring",
        "shop.acme.example",
        "Daily availability",
        "SLA target 99.9 %",
        "Page 1 of",
    ] {
        assert!(text.contains(needle), "pdftotext output lacks {needle:?}:\n{text}");
    }
    assert!(text.contains(&format!("Page {pages} of {pages}")), "last page number in the footer");
}

#[test]
fn pdf_renders_with_pdftoppm() {
    if !poppler("pdftoppm") {
        return;
    }
    let dir = out_dir("pdf-png");
    let file = dir.join("report.pdf");
    std::fs::write(&file, render_pdf(&sample_document()).expect("renders")).expect("write pdf");
    let out =
        Command::new("pdftoppm").args(["-png", "-r", "50"]).arg(&file).arg(dir.join("page")).output().expect("run");
    assert!(out.status.success(), "pdftoppm failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "pdftoppm complained: {}", String::from_utf8_lossy(&out.stderr));
    let pngs: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .collect();
    assert!(pngs.len() >= 3, "cover and two organizations, got {} pages", pngs.len());
    for p in pngs {
        let bytes = std::fs::read(p.path()).expect("read png");
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 2_000, "{} is a real image", p.path().display());
    }
}

#[test]
fn ten_thousand_services_stay_under_five_megabytes() {
    let pdf = render_pdf(&large_document(10_000)).expect("renders");
    println!("PDF for 10,000 services: {} bytes", pdf.len());
    assert!(pdf.len() < 5 * 1024 * 1024, "PDF is {} bytes", pdf.len());
    if poppler("pdftotext") {
        let dir = out_dir("pdf-large");
        let file = dir.join("large.pdf");
        std::fs::write(&file, &pdf).expect("write pdf");
        let (raw, _) = pdftotext(&file);
        let text = normalize(&raw);
        assert!(text.contains("service-09999-frontend"), "the last service is in the PDF");
        assert!(text.contains("Services (continued)"), "the services table breaks across pages");
    }
}
