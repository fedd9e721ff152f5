//! `${variable}` templates in paths, headers and JSON bodies, compiled once per scenario so a
//! request costs a few string pushes, and the JSON paths used by checks and captures.

use std::collections::HashMap;

use http::Method;
use rand::Rng;
use serde_json::Value;

/// What a `${…}` refers to.
#[derive(Debug, Clone, PartialEq)]
enum Var {
    /// A captured or user variable (`${token}`, `${user.username}`).
    Named(String),
    /// The VU's number, from 0.
    Vu,
    /// The VU's iteration, from 0.
    Iter,
    /// A fresh UUID v4.
    Uuid,
    /// A random element of a captured list (`${pick:task_ids}`).
    Pick(String),
    /// A random integer in a closed range (`${rand:1..100}`).
    Rand(i64, i64),
    /// The current instant plus an offset in milliseconds, RFC 3339 UTC (`${now}`, `${now+1d}`,
    /// `${now-90m}`): a time inside a validity period that moves with the day of the run.
    Now(i64),
    /// A skewed pick from a captured list (`${hot:ids}`): 80% of draws from its first fifth, the
    /// rest from the other four fifths, uniform within each (the Pareto hot spot).
    Hot(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

/// A VU's variables and counters, what templates read.
#[derive(Debug, Default)]
pub struct Vars {
    pub values: HashMap<String, Value>,
    pub vu: u64,
    pub iteration: u64,
}

fn parse_var(name: &str) -> Result<Var, String> {
    Ok(match name {
        "vu" => Var::Vu,
        "iter" => Var::Iter,
        "uuid" => Var::Uuid,
        _ => {
            if let Some(list) = name.strip_prefix("pick:") {
                Var::Pick(list.to_owned())
            } else if let Some(list) = name.strip_prefix("hot:") {
                Var::Hot(list.to_owned())
            } else if name == "now" || name.starts_with("now+") || name.starts_with("now-") {
                Var::Now(now_offset(name, &name[3..])?)
            } else if let Some(range) = name.strip_prefix("rand:") {
                let (low, high) = range
                    .split_once("..")
                    .ok_or_else(|| format!("`${{{name}}}`: write rand:LOW..HIGH"))?;
                let parse = |v: &str| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("`${{{name}}}`: {v} is not an integer"))
                };
                Var::Rand(parse(low)?, parse(high)?)
            } else if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            {
                return Err(format!("`${{{name}}}` is not a variable name"));
            } else {
                Var::Named(name.to_owned())
            }
        }
    })
}

/// The offset of `${now…}`: none, or `+`/`-` and a duration such as `1d`, `90m`, `30s`.
fn now_offset(name: &str, offset: &str) -> Result<i64, String> {
    if offset.is_empty() {
        return Ok(0);
    }
    let bad = || format!("`${{{name}}}`: write now, now+DURATION or now-DURATION (e.g. now+1d)");
    let (sign, duration) = match offset.split_at(1) {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return Err(bad()),
    };
    let duration = humantime::parse_duration(duration).map_err(|_| bad())?;
    i64::try_from(duration.as_millis())
        .map(|ms| sign * ms)
        .map_err(|_| bad())
}

/// A list's element drawn as `${hot:…}` draws: 80% from the first fifth (at least one element).
fn hot_index(rng: &mut impl Rng, len: usize) -> usize {
    let hot = len.div_ceil(5).max(1);
    if hot == len || rng.random_bool(0.8) {
        rng.random_range(0..hot)
    } else {
        rng.random_range(hot..len)
    }
}

impl Template {
    /// Compiles `text`; `$` not followed by `{` is literal.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("`{text}`: a `${{` is not closed"))?;
            parts.push(Part::Var(parse_var(&rest[start + 2..start + end])?));
            rest = &rest[start + end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    /// The text when the template has no variables at all.
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The variable when the template is exactly one `${var}` (a JSON body keeps its type).
    fn single_named(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Var(Var::Named(name))] => Some(name),
            _ => None,
        }
    }

    /// Appends the rendered text; a missing variable is an error naming it.
    pub fn render_into(&self, vars: &Vars, rng: &mut impl Rng, out: &mut String) -> Result<(), String> {
        use std::fmt::Write;
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(Var::Vu) => {
                    let _ = write!(out, "{}", vars.vu);
                }
                Part::Var(Var::Iter) => {
                    let _ = write!(out, "{}", vars.iteration);
                }
                // From the OS, not the VU's seeded generator: ids must differ between runs too, or a
                // second run against the same database repeats the first one's.
                Part::Var(Var::Uuid) => {
                    let _ = write!(out, "{}", uuid::Uuid::new_v4());
                }
                Part::Var(Var::Rand(low, high)) => {
                    let _ = write!(out, "{}", rng.random_range(*low..=*high));
                }
                Part::Var(Var::Named(name)) => push_value(
                    out,
                    vars.values
                        .get(name)
                        .ok_or_else(|| format!("variable `{name}` is not set"))?,
                ),
                Part::Var(Var::Pick(list)) => {
                    let items = captured_list(vars, "pick", list)?;
                    push_value(out, &items[rng.random_range(0..items.len())]);
                }
                Part::Var(Var::Hot(list)) => {
                    let items = captured_list(vars, "hot", list)?;
                    push_value(out, &items[hot_index(rng, items.len())]);
                }
                Part::Var(Var::Now(offset_ms)) => {
                    let at = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(*offset_ms);
                    let text = at
                        .format(&time::format_description::well_known::Rfc3339)
                        .map_err(|e| format!("`${{now}}`: {e}"))?;
                    out.push_str(&text);
                }
            }
        }
        Ok(())
    }

    /// Renders to a new string.
    pub fn render(&self, vars: &Vars, rng: &mut impl Rng) -> Result<String, String> {
        let mut out = String::new();
        self.render_into(vars, rng, &mut out)?;
        Ok(out)
    }
}

/// A captured, non-empty list, for `${pick:…}` and `${hot:…}`.
fn captured_list<'a>(vars: &'a Vars, kind: &str, list: &str) -> Result<&'a Vec<Value>, String> {
    vars.values
        .get(list)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("`${{{kind}:{list}}}`: no captured list `{list}`"))
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Literal(Value),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compiles a TOML value from a scenario file.
    pub fn compile(value: &toml::Value) -> Result<Self, String> {
        Ok(match value {
            toml::Value::String(s) => Self::Text(Template::parse(s)?),
            toml::Value::Array(items) => Self::Array(items.iter().map(Self::compile).collect::<Result<_, _>>()?),
            toml::Value::Table(table) => Self::Object(
                table
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Self::Literal(serde_json::to_value(other).map_err(|e| e.to_string())?),
        })
    }

    /// The JSON value for this VU now.
    pub fn render(&self, vars: &Vars, rng: &mut impl Rng) -> Result<Value, String> {
        Ok(match self {
            Self::Literal(v) => v.clone(),
            Self::Text(t) => match t.single_named().and_then(|n| vars.values.get(n)) {
                Some(value) => value.clone(),
                None => Value::String(t.render(vars, rng)?),
            },
            Self::Array(items) => Value::Array(items.iter().map(|i| i.render(vars, rng)).collect::<Result<_, _>>()?),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(vars, rng)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// Splits `"POST /api/v1/tasks"` into a method and a path template.
pub fn parse_request_line(line: &str) -> Result<(Method, Template), String> {
    let (method, path) = line
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("`{line}`: write METHOD /path"))?;
    let method = match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?
        }
        other => return Err(format!("`{other}` is not an HTTP method")),
    };
    let path = path.trim();
    if !path.starts_with('/') && !path.starts_with("${") {
        return Err(format!("`{path}`: the path must start with /"));
    }
    Ok((method, Template::parse(path)?))
}

/// The value at a path such as `data.items[0].id`; `[*]` maps over an array and yields a list of
/// the values that are there and not null (`items[*].assignee_id` lists the assigned ones, so a
/// `${pick:…}` never draws a null).
pub fn json_path(value: &Value, path: &str) -> Option<Value> {
    let mut current = vec![value.clone()];
    let mut spread = false;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            current = current.into_iter().filter_map(|v| v.get(key).cloned()).collect();
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let index = index.strip_suffix(']')?;
            current = if index == "*" {
                spread = true;
                current
                    .into_iter()
                    .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                    .collect()
            } else {
                let i: usize = index.parse().ok()?;
                current.into_iter().filter_map(|v| v.get(i).cloned()).collect()
            };
        }
    }
    if spread {
        Some(Value::Array(current.into_iter().filter(|v| !v.is_null()).collect()))
    } else {
        current.into_iter().next()
    }
}

#[cfg(test)]
mod tests;
