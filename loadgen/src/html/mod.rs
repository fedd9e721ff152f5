//! `emrlab report`: one self-contained HTML page from one or more result files (or the arms of an
//! experiment), side by side. The page opens offline: its style is inline, its charts are inline
//! SVG, and it loads nothing (no script, stylesheet, font or image). It is also well-formed XML,
//! so tests and other tools can parse it.
//!
//! Layout: this module holds the page; `tables` the run, machine, knobs and per-request tables;
//! `verdicts` thresholds, checks, status classes and aborts; `timeline` the client-side charts
//! (latency, throughput, VUs, the percentile distribution); `server` the charts of the metrics
//! scraped from the target; `charts` draws one chart; `capacity` is a capacity run's page.

use std::fmt::Write;

use crate::result::RunResult;

pub mod capacity;
mod charts;
mod server;
mod tables;
mod timeline;
mod verdicts;

/// One column of a report: a run, or an experiment arm.
pub struct Arm<'a> {
    pub label: String,
    pub result: &'a RunResult,
}

/// What [`render`] turns into a page.
pub struct Report<'a> {
    pub title: String,
    /// Pre-rendered, already-escaped HTML placed at the top (an experiment's verdict table); may be empty.
    pub summary_html: String,
    pub arms: Vec<Arm<'a>>,
}

/// Screen and print styles; no `url(`, `@import` or web font, so nothing is fetched.
const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:15px;margin:16px 0 4px}
nav a{margin-right:12px;color:#3a6ea5}
p.sub{color:#666;margin:0 0 8px}
table{border-collapse:collapse;background:#fff;margin:4px 0 8px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e2e2e2;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600}
td.n{text-align:right;white-space:nowrap}
tr.differs td{background:#fff8e1}
tr.group td{border-top:2px solid #bbb}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.missing{color:#888;font-style:italic;margin:4px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #e2e2e2;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
figure svg{width:100%;height:auto;display:block}
ul.legend{list-style:none;margin:4px 0 0;padding:0;font-size:12px}
ul.legend li{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
.bar{display:flex;width:260px;height:12px;background:#eee}
.bar span{display:block;height:12px}
code{background:#f1f3f5;padding:0 3px}
.facts{display:flex;flex-wrap:wrap;gap:0 24px;align-items:flex-start}
.facts td{max-width:430px}
";

/// The report as one HTML page.
pub fn render(report: &Report<'_>) -> String {
    let arms = &report.arms;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n\
         <p class=\"sub\">{sub}</p>\n",
        title = esc(&report.title),
        sub = esc(&subtitle(arms)),
    );
    // id, link text, heading, body: the nav and the sections come from one list.
    let sections = [
        ("run", "Run", "The run and the machine", tables::run(arms)),
        (
            "client",
            "Latency and throughput",
            "Latency and throughput",
            timeline::charts(arms),
        ),
        (
            "requests",
            "Requests",
            "Requests (latency in ms, corrected unless said)",
            tables::requests(arms),
        ),
        (
            "server",
            "Server",
            "Server side (scraped from the target)",
            server::charts(arms),
        ),
        (
            "verdicts",
            "Thresholds and checks",
            "Thresholds, checks, statuses and aborts",
            verdicts::all(arms),
        ),
        ("knobs", "Knobs", "Knobs in effect", tables::knobs(arms)),
    ];
    let links: String = sections
        .iter()
        .map(|(id, link, ..)| format!("<a href=\"#{id}\">{link}</a>"))
        .collect();
    let _ = writeln!(page, "<nav>{links}</nav>");
    page.push_str(&report.summary_html);
    for (id, _, heading, body) in &sections {
        let _ = write!(
            page,
            "<section id=\"{id}\">\n<h2>{}</h2>\n{body}</section>\n",
            esc(heading)
        );
    }
    let _ = write!(
        page,
        "<p class=\"sub\">Made by <code>emrlab report</code> from result files of format <code>{}</code>.</p>\n\
         </main>\n</body>\n</html>\n",
        esc(crate::result::FORMAT)
    );
    page
}

fn subtitle(arms: &[Arm<'_>]) -> String {
    match arms {
        [] => "No result files.".to_owned(),
        [one] => format!(
            "{} ({} model) against {}, {:.0} s from {}",
            one.result.scenario.name,
            crate::model_name(one.result.scenario.load.model),
            one.result.target,
            one.result.elapsed_s,
            one.result.started_at
        ),
        many => {
            let labels: Vec<&str> = many.iter().map(|a| a.label.as_str()).collect();
            format!("{} runs side by side: {}", many.len(), labels.join(", "))
        }
    }
}

/// Text made safe for HTML and XML: markup characters as entities, and the control characters
/// that XML 1.0 forbids as U+FFFD (a result file may carry any string in a name or reason).
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaping_leaves_no_markup_and_no_character_xml_forbids() {
        assert_eq!(
            super::esc("<script>a&b\"c'\u{1}</script>"),
            "&lt;script&gt;a&amp;b&quot;c&#39;\u{FFFD}&lt;/script&gt;"
        );
    }
}
