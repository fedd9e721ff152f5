//! An experiment as an HTML report: the verdicts on top (each deciding metric per candidate, with
//! its interval), then every arm side by side as the report shows several runs.

use super::{
    decide::{Finding, show_value},
    outcome::ExperimentResult,
};
use crate::html::{Arm, Report, esc, render};

/// The whole report page.
pub fn html(result: &ExperimentResult) -> String {
    render(&Report {
        title: format!("{} — {}", result.name, result.title),
        summary_html: summary(result),
        arms: result
            .arms
            .iter()
            .map(|a| Arm {
                label: a.name.clone(),
                result: &a.result,
            })
            .collect(),
    })
}

fn summary(result: &ExperimentResult) -> String {
    let baseline = result.arms.first().map_or("", |a| a.name.as_str());
    let mut out = format!(
        "<section><h2>Verdict</h2><p>{} rounds of {:?} per arm{}, interleaved (A B A B …) after a {:?} warm-up \
         per arm, against {}.</p>",
        result.rounds.count,
        result.rounds.duration,
        if result.short { " (short mode)" } else { "" },
        result.rounds.warmup,
        esc(&result.target)
    );
    for c in &result.candidates {
        let words = match c.verdict {
            Finding::Better => "better, confident",
            Finding::Worse => "worse, confident",
            Finding::Unclear => "no clear difference",
        };
        out.push_str(&format!(
            "<h3>{} vs {}: {words}</h3><p>{}</p><table><thead><tr><th>metric</th><th>{}</th><th>{}</th>\
             <th>change</th><th>95% CI</th><th>outcome</th></tr></thead><tbody>",
            esc(&c.arm),
            esc(baseline),
            esc(&c.sentence),
            esc(baseline),
            esc(&c.arm)
        ));
        for d in &c.differences {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} … {}</td><td>{}</td></tr>",
                esc(&d.metric),
                esc(&show_value(d.baseline, &d.unit)),
                esc(&show_value(d.candidate, &d.unit)),
                esc(&d.show_change(d.change)),
                esc(&d.show_change(d.ci_low)),
                esc(&d.show_change(d.ci_high)),
                match d.outcome {
                    Finding::Better => "better",
                    Finding::Worse => "worse",
                    Finding::Unclear => "unclear",
                }
            ));
        }
        out.push_str("</tbody></table>");
    }
    for (arm, why) in &result.skipped {
        out.push_str(&format!("<p>{}: not run ({}).</p>", esc(arm), esc(why)));
    }
    out.push_str("</section>");
    out
}
