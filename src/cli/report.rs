//! `emrlab report`: one HTML page from result files, a column per file, that opens offline
//! (docs/load.md#reports).

use std::path::{Path, PathBuf};

use anyhow::Context;
use emrlab_loadgen::{
    experiment::{outcome::ExperimentResult, page},
    html::{self, Arm, Report},
    result::RunResult,
};

/// The format tag's family; a reader of version 1 reads the fields it knows of any later one.
const FORMAT_PREFIX: &str = "emrlab-load-result/";
const EXPERIMENT_PREFIX: &str = "emrlab-experiment-result/";

#[derive(clap::Args)]
pub struct Args {
    /// Result files (`emrlab load --out`, `emrlab db bench --out`); each is one column of the
    /// report, labelled by its file name without `.json`. Or one experiment's result file
    /// (`emrlab experiment --out`): its verdicts, then its arms side by side.
    #[arg(required = true, value_name = "RESULT")]
    files: Vec<PathBuf>,
    /// Where to write the page.
    #[arg(short, long, value_name = "FILE", default_value = "emrlab-report.html")]
    out: PathBuf,
    /// The page's title (default: from the scenario, or the files' labels).
    #[arg(long)]
    title: Option<String>,
}

fn read(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let not_a_result = || {
        format!(
            "{} is not an emrlab result file (docs/result-format.md)",
            path.display()
        )
    };
    let value: serde_json::Value = serde_json::from_str(&text).with_context(not_a_result)?;
    let format = value["format"].as_str().unwrap_or_default();
    anyhow::ensure!(
        format.starts_with(FORMAT_PREFIX),
        "{}: its \"format\" is {:?}, not {FORMAT_PREFIX}…",
        not_a_result(),
        value["format"]
    );
    serde_json::from_value(value).with_context(not_a_result)
}

/// Each file's stem, or its whole path where two files share a stem.
fn labels(files: &[PathBuf]) -> Vec<String> {
    let stem = |p: &PathBuf| {
        p.file_stem()
            .map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into())
    };
    let stems: Vec<String> = files.iter().map(stem).collect();
    stems
        .iter()
        .zip(files)
        .map(|(s, path)| {
            if stems.iter().filter(|other| *other == s).count() > 1 {
                path.display().to_string()
            } else {
                s.clone()
            }
        })
        .collect()
}

/// An experiment's result file (`emrlab experiment --out`), if `path` is one.
fn experiment(path: &Path) -> Option<ExperimentResult> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let format = value["format"].as_str()?;
    format.starts_with(EXPERIMENT_PREFIX).then_some(())?;
    serde_json::from_value(value).ok()
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if let [file] = args.files.as_slice()
        && let Some(result) = experiment(file)
    {
        std::fs::write(&args.out, page::html(&result)).with_context(|| format!("writing {}", args.out.display()))?;
        println!(
            "wrote {} (experiment {}, {} arms); it opens offline in any browser",
            args.out.display(),
            result.name,
            result.arms.len()
        );
        return Ok(());
    }
    let results = args.files.iter().map(|f| read(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let arms: Vec<Arm<'_>> = labels(&args.files)
        .into_iter()
        .zip(&results)
        .map(|(label, result)| Arm { label, result })
        .collect();
    let title = args.title.clone().unwrap_or_else(|| match arms.as_slice() {
        [one] => format!("{}: load report", one.result.scenario.name),
        many => many.iter().map(|a| a.label.as_str()).collect::<Vec<_>>().join(" vs "),
    });
    let page = html::render(&Report {
        title,
        summary_html: String::new(),
        arms,
    });
    std::fs::write(&args.out, page).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} run{}); it opens offline in any browser",
        args.out.display(),
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
