use super::*;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;

#[test]
fn variables_render_and_a_missing_one_is_named() {
    let mut vars = Vars {
        vu: 7,
        ..Vars::default()
    };
    vars.values.insert("token".into(), json!("abc"));
    let mut rng = StdRng::seed_from_u64(1);
    let t = Template::parse("Bearer ${token} vu=${vu} n=${rand:5..5}").unwrap();
    assert_eq!(t.render(&vars, &mut rng).unwrap(), "Bearer abc vu=7 n=5");
    let missing = Template::parse("/tasks/${task_id}")
        .unwrap()
        .render(&vars, &mut rng)
        .unwrap_err();
    assert!(missing.contains("task_id"));
}

#[test]
fn a_body_keeps_the_type_of_a_whole_variable() {
    let mut vars = Vars::default();
    vars.values.insert("version".into(), json!(3));
    vars.values.insert("ids".into(), json!(["a"]));
    let body: toml::Value =
        toml::from_str("version = \"${version}\"\ntitle = \"v${version}\"\nid = \"${pick:ids}\"").unwrap();
    let rendered = JsonTemplate::compile(&body)
        .unwrap()
        .render(&vars, &mut StdRng::seed_from_u64(1))
        .unwrap();
    assert_eq!(rendered, json!({"version": 3, "title": "v3", "id": "a"}));
}

#[test]
fn now_renders_an_instant_shifted_by_its_offset() {
    let vars = Vars::default();
    let render = |t: &str| {
        let text = Template::parse(t)
            .unwrap()
            .render(&vars, &mut StdRng::seed_from_u64(1))
            .unwrap();
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    assert!((render("${now}") - now).abs() < time::Duration::seconds(5));
    assert!((render("${now+1d}") - now - time::Duration::DAY).abs() < time::Duration::seconds(5));
    assert!((render("${now-90m}") - now + time::Duration::minutes(90)).abs() < time::Duration::seconds(5));
    assert!(Template::parse("${now+soon}").is_err());
    assert!(
        Template::parse("${nowhere}").is_ok(),
        "a variable that merely starts with now"
    );
}

#[test]
fn hot_draws_four_in_five_from_the_first_fifth() {
    let mut vars = Vars::default();
    vars.values.insert("ids".into(), json!((0..55).collect::<Vec<_>>()));
    let t = Template::parse("${hot:ids}").unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let draws: Vec<usize> = (0..10_000)
        .map(|_| t.render(&vars, &mut rng).unwrap().parse().unwrap())
        .collect();
    let hot = draws.iter().filter(|d| **d < 11).count();
    assert!((7_700..8_300).contains(&hot), "{hot} of 10,000 from the hot fifth");
    assert!(draws.iter().any(|d| *d >= 11) && draws.iter().all(|d| *d < 55));
    let missing = Template::parse("${hot:none}")
        .unwrap()
        .render(&vars, &mut rng)
        .unwrap_err();
    assert!(missing.contains("none"));
}

#[test]
fn json_paths_index_and_spread() {
    let v = json!({"items": [{"id": "a", "to": null}, {"id": "b", "to": "x"}], "data": {"verified": true}});
    assert_eq!(json_path(&v, "items[0].id"), Some(json!("a")));
    assert_eq!(json_path(&v, "items[1].id"), Some(json!("b")));
    // An empty page (no untouched authorization left) is a miss, not a stale or null id.
    assert_eq!(json_path(&json!({"items": []}), "items[0].id"), None);
    assert_eq!(json_path(&v, "items[*].id"), Some(json!(["a", "b"])));
    assert_eq!(
        json_path(&v, "items[*].to"),
        Some(json!(["x"])),
        "nulls are left out of a list"
    );
    assert_eq!(json_path(&v, "data.verified"), Some(json!(true)));
    assert_eq!(json_path(&v, "data.missing"), None);
}

#[test]
fn request_lines_need_a_method_and_a_path() {
    assert!(parse_request_line("GET /api/v1/tasks?limit=50").is_ok());
    assert!(parse_request_line("FETCH /x").is_err());
    assert!(parse_request_line("GET tasks").is_err());
}
