use super::*;

const MINIMAL: &str = r#"
name = "t"
[load]
model = "closed"
stages = [{ duration = "10s", target = 5 }]
[[flows]]
name = "f"
steps = [{ name = "home", request = "GET /" }]
"#;

#[test]
fn a_minimal_scenario_parses() {
    let s = Scenario::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!((s.load.model, s.duration()), (Model::Closed, Duration::from_secs(10)));
}

#[test]
fn a_typo_names_its_line_and_field() {
    let text = MINIMAL.replace("target = 5", "targt = 5");
    let err = Scenario::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(
        err.contains("t.toml") && err.contains("line 5") && err.contains("targt"),
        "{err}"
    );
}

#[test]
fn a_bad_request_line_names_the_step() {
    let text = MINIMAL.replace("GET /", "FETCH");
    let err = Scenario::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(err.contains("flows.steps[home].request"), "{err}");
}

#[test]
fn rescaling_keeps_the_shape() {
    let mut s = Scenario::parse(
        &MINIMAL.replace(
            "stages = [{ duration = \"10s\", target = 5 }]",
            "stages = [{ duration = \"10s\", target = 5 }, { duration = \"30s\", target = 5 }]",
        ),
        "t",
    )
    .unwrap();
    s.rescale(Duration::from_secs(4));
    assert_eq!(s.load.stages[0].duration, Duration::from_secs(1));
    assert_eq!(s.load.stages[1].duration, Duration::from_secs(3));
}
