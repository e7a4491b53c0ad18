//! Times the JSON and PDF of a report with N services (default 10,000):
//! `cargo run --release -p nines-report --example report_bench -- 10000 [out-dir]`.

use std::time::Instant;

use nines_report::render_pdf;
use nines_report::sample::large_document;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let out = args.next();

    let t = Instant::now();
    let doc = large_document(n);
    let build = t.elapsed();

    let t = Instant::now();
    let json = doc.to_json()?;
    let json_time = t.elapsed();

    let t = Instant::now();
    let pdf = render_pdf(&doc)?;
    let pdf_time = t.elapsed();

    println!("services:      {n}");
    println!("build doc:     {:>8.1} ms", build.as_secs_f64() * 1e3);
    println!("JSON:          {:>8.1} ms, {:>9} bytes", json_time.as_secs_f64() * 1e3, json.len());
    println!("PDF:           {:>8.1} ms, {:>9} bytes", pdf_time.as_secs_f64() * 1e3, pdf.len());
    println!("JSON + PDF:    {:>8.1} ms", (json_time + pdf_time).as_secs_f64() * 1e3);
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(format!("{dir}/report.json"), &json)?;
        std::fs::write(format!("{dir}/report.pdf"), &pdf)?;
        println!("written to {dir}/report.json and {dir}/report.pdf");
    }
    Ok(())
}
