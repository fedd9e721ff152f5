//! Runtime knobs: named, typed settings that experiments flip while the platform runs.
//!
//! A component keeps its settings in one typed struct `T` (the same struct its configuration
//! section deserialises into) inside a [`KnobCell`]. The cell exposes the fields listed in its
//! [`KnobSpec`]s by dotted name, validates changes against the spec, and swaps the whole struct
//! atomically, so a reader sees either the old or the new settings, never a mix.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use tokio::sync::watch;

/// The values a knob accepts.
#[derive(Debug, Clone, Copy)]
pub enum KnobKind {
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An integer in this closed range.
    Int { min: i64, max: i64 },
    /// A duration (`"250ms"`, `"15m"`) in this closed range.
    Duration { min: Duration, max: Duration },
    /// `true` or `false`.
    Bool,
    /// A number (fractions allowed) in this closed range.
    Float { min: f64, max: f64 },
    /// An integer in this closed range, or `"off"` for no limit at all.
    IntOrOff { min: i64, max: i64 },
}

/// One knob of a component: its dotted name (also its configuration path) and accepted values.
#[derive(Debug, Clone, Copy)]
pub struct KnobSpec {
    pub name: &'static str,
    pub kind: KnobKind,
    pub help: &'static str,
}

/// What `GET /api/v1/admin/knobs` shows for one knob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnobInfo {
    pub name: String,
    pub value: Value,
    pub default: Value,
    pub allowed: Value,
    pub owners: Vec<String>,
    pub help: String,
}

/// A rejected knob change; the whole change is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum KnobError {
    #[error("unknown knob {0}")]
    Unknown(String),
    #[error("bad value for knob {name}: {reason}")]
    BadValue { name: String, reason: String },
}

impl KnobError {
    /// The knob the error is about.
    pub fn knob(&self) -> &str {
        match self {
            Self::Unknown(name) | Self::BadValue { name, .. } => name,
        }
    }
}

impl KnobKind {
    fn allowed(&self) -> Value {
        match self {
            Self::OneOf(values) => serde_json::json!({ "one_of": values }),
            Self::Int { min, max } => serde_json::json!({ "min": min, "max": max }),
            Self::Duration { min, max } => serde_json::json!({
                "duration": { "min": humantime::format_duration(*min).to_string(),
                              "max": humantime::format_duration(*max).to_string() }
            }),
            Self::Bool => serde_json::json!("bool"),
            Self::Float { min, max } => serde_json::json!({ "min": min, "max": max, "fraction": true }),
            Self::IntOrOff { min, max } => serde_json::json!({ "min": min, "max": max, "or": "off" }),
        }
    }

    fn check(&self, value: &Value) -> Result<(), String> {
        match (self, value) {
            (Self::OneOf(values), Value::String(s)) if values.contains(&s.as_str()) => Ok(()),
            (Self::OneOf(values), _) => Err(format!("expected one of {}", values.join(", "))),
            (Self::Int { min, max }, Value::Number(n)) => match n.as_i64() {
                Some(v) if (*min..=*max).contains(&v) => Ok(()),
                _ => Err(format!("expected an integer from {min} to {max}")),
            },
            (Self::Int { min, max }, _) => Err(format!("expected an integer from {min} to {max}")),
            (Self::Duration { min, max }, Value::String(s)) => match humantime::parse_duration(s) {
                Ok(d) if d >= *min && d <= *max => Ok(()),
                _ => Err(format!(
                    "expected a duration such as \"250ms\" or \"15m\" from {} to {}",
                    humantime::format_duration(*min),
                    humantime::format_duration(*max)
                )),
            },
            (Self::Duration { .. }, _) => Err("expected a duration string such as \"15m\"".into()),
            (Self::Bool, Value::Bool(_)) => Ok(()),
            (Self::Bool, _) => Err("expected true or false".into()),
            (Self::Float { min, max }, Value::Number(n)) if n.as_f64().is_some_and(|v| (*min..=*max).contains(&v)) => {
                Ok(())
            }
            (Self::Float { min, max }, _) => Err(format!("expected a number from {min} to {max}")),
            (Self::IntOrOff { .. }, Value::String(s)) if s == "off" => Ok(()),
            (Self::IntOrOff { min, max }, value) => Self::Int { min: *min, max: *max }
                .check(value)
                .map_err(|reason| format!("{reason}, or \"off\"")),
        }
    }
}

/// A component's live settings and the knobs it exposes over them.
pub struct KnobCell<T> {
    component: &'static str,
    specs: &'static [KnobSpec],
    defaults: Value,
    current: ArcSwap<T>,
    changed: watch::Sender<Arc<T>>,
}

impl<T> KnobCell<T>
where
    T: Serialize + DeserializeOwned + Default + Send + Sync + 'static,
{
    /// Wraps the settings a component started with.
    pub fn new(component: &'static str, specs: &'static [KnobSpec], initial: T) -> Self {
        let defaults = serde_json::to_value(T::default()).unwrap_or(Value::Null);
        let initial = Arc::new(initial);
        let (changed, _) = watch::channel(initial.clone());
        Self {
            component,
            specs,
            defaults,
            current: ArcSwap::new(initial),
            changed,
        }
    }

    /// The settings now; cheap, so read it where the setting is used rather than caching it.
    pub fn get(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Notified after every applied change (pool resizes, limiter rebuilds listen here).
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.changed.subscribe()
    }

    /// Every knob of this component with its current value.
    pub fn list(&self) -> Vec<KnobInfo> {
        let current = serde_json::to_value(&*self.get()).unwrap_or(Value::Null);
        self.specs
            .iter()
            .map(|spec| KnobInfo {
                name: spec.name.to_owned(),
                value: lookup(&current, spec.name).cloned().unwrap_or(Value::Null),
                default: lookup(&self.defaults, spec.name).cloned().unwrap_or(Value::Null),
                allowed: spec.kind.allowed(),
                owners: vec![self.component.to_owned()],
                help: spec.help.to_owned(),
            })
            .collect()
    }

    /// Whether this component owns the knob.
    pub fn owns(&self, name: &str) -> bool {
        self.specs.iter().any(|s| s.name == name)
    }

    /// Checks a change without applying it: the settings it would produce.
    pub fn validate(&self, changes: &Map<String, Value>) -> Result<T, KnobError> {
        let mut next = serde_json::to_value(&*self.get()).unwrap_or(Value::Null);
        for (name, value) in changes {
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| KnobError::Unknown(name.clone()))?;
            spec.kind.check(value).map_err(|reason| KnobError::BadValue {
                name: name.clone(),
                reason,
            })?;
            let slot = lookup_mut(&mut next, name).ok_or_else(|| KnobError::Unknown(name.clone()))?;
            *slot = value.clone();
        }
        serde_json::from_value(next).map_err(|e| KnobError::BadValue {
            name: changes.keys().next().cloned().unwrap_or_default(),
            reason: e.to_string(),
        })
    }

    /// Applies a change (all or nothing), logs old and new values, and notifies subscribers.
    pub fn apply(&self, changes: &Map<String, Value>) -> Result<Vec<KnobInfo>, KnobError> {
        let next = Arc::new(self.validate(changes)?);
        let before = self.list();
        self.current.store(next.clone());
        for info in &before {
            if let Some(new) = changes.get(&info.name) {
                tracing::info!(knob = %info.name, old = %info.value, new = %new, "knob changed");
            }
        }
        self.changed.send_replace(next);
        Ok(self.list())
    }
}

fn lookup<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, |v, key| v.get(key))
}

fn lookup_mut<'a>(value: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    dotted.split('.').try_fold(value, |v, key| v.get_mut(key))
}

/// The knobs of [`crate::config::DbConfig`], owned by every component with a pool; the last two,
/// `db.sqlite_inline_reads` and `db.indexes`, by the task service alone, which does what they say.
pub const DB_KNOBS: [KnobSpec; 7] = [
    KnobSpec {
        name: "db.pool_size",
        kind: KnobKind::Int { min: 1, max: 500 },
        help: "connections per pool, per component; a change builds a new pool and swaps it in",
    },
    KnobSpec {
        name: "db.acquire_timeout",
        kind: KnobKind::Duration {
            min: Duration::from_millis(1),
            max: Duration::from_secs(120),
        },
        help: "wait for a pooled connection before answering 503",
    },
    KnobSpec {
        name: "db.log_statements",
        kind: KnobKind::Bool,
        help: "log every SQL statement at INFO",
    },
    KnobSpec {
        name: "db.test_before_acquire",
        kind: KnobKind::Bool,
        help: "ping a pooled connection before use: survives a database restart, costs a round trip",
    },
    KnobSpec {
        name: "db.sqlite_writer",
        kind: KnobKind::Bool,
        help: "SQLite only: a component's writes go through one connection of its own beside the pool, which keeps \
               its page cache (~25 % less CPU per create); off, they take pooled connections, so a write \
               transaction held open drains the pool as on PostgreSQL",
    },
    KnobSpec {
        name: "db.sqlite_inline_reads",
        kind: KnobKind::Bool,
        help: "SQLite only: a task read by id runs on the request's own thread, on read-only connections beside the \
               pool, instead of a hand-off to a pooled connection's thread (~28 % less CPU per read); off, it takes \
               a pooled connection and waits for one when the pool is drained",
    },
    KnobSpec {
        name: "db.indexes",
        kind: KnobKind::OneOf(&["seed", "none"]),
        help: "the seed platform's performance indexes (migrations/indexes.sql): seed builds them (CONCURRENTLY on \
               PostgreSQL), none drops them; the task service applies it",
    },
];

/// Merges the knob lists of several components: one entry per name, owners joined.
pub fn merge_lists(lists: impl IntoIterator<Item = Vec<KnobInfo>>) -> Vec<KnobInfo> {
    let mut merged: Vec<KnobInfo> = Vec::new();
    for info in lists.into_iter().flatten() {
        match merged.iter_mut().find(|m| m.name == info.name) {
            Some(existing) => existing.owners.extend(info.owners),
            None => merged.push(info),
        }
    }
    merged.sort_by(|a, b| a.name.cmp(&b.name));
    // Owners in name order: the gateway asks its upstreams in no particular order.
    for info in &mut merged {
        info.owners.sort();
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DbConfig;

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    struct Settings {
        db: DbConfig,
    }

    fn cell() -> KnobCell<Settings> {
        KnobCell::new("test", &DB_KNOBS, Settings::default())
    }

    fn change(name: &str, value: Value) -> Map<String, Value> {
        Map::from_iter([(name.to_owned(), value)])
    }

    #[test]
    fn a_valid_change_is_applied_and_listed() {
        let cell = cell();
        let list = cell.apply(&change("db.pool_size", Value::from(3))).unwrap();
        assert_eq!(cell.get().db.pool_size, 3);
        let info = list.iter().find(|k| k.name == "db.pool_size").unwrap();
        assert_eq!(
            (info.value.clone(), info.default.clone()),
            (Value::from(3), Value::from(10))
        );
    }

    #[test]
    fn a_bad_value_anywhere_changes_nothing() {
        let cell = cell();
        let mut changes = change("db.pool_size", Value::from(3));
        changes.insert("db.acquire_timeout".into(), Value::from("soon"));
        let err = cell.apply(&changes).unwrap_err();
        assert_eq!(err.knob(), "db.acquire_timeout");
        assert_eq!(cell.get().db.pool_size, 10);
    }

    #[test]
    fn unknown_and_out_of_range_knobs_are_named() {
        let cell = cell();
        assert_eq!(
            cell.validate(&change("db.nope", Value::from(1))).err(),
            Some(KnobError::Unknown("db.nope".into()))
        );
        let err = cell.validate(&change("db.pool_size", Value::from(0))).err().unwrap();
        assert_eq!(err.knob(), "db.pool_size");
    }

    #[test]
    fn durations_are_written_like_the_configuration() {
        let cell = cell();
        cell.apply(&change("db.acquire_timeout", Value::from("250ms"))).unwrap();
        assert_eq!(cell.get().db.acquire_timeout, Duration::from_millis(250));
    }
}

/// A limit that can be switched off: `"off"` or a number in configuration files, env and knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrOff<T> {
    Off,
    On(T),
}

impl<T: Copy> OrOff<T> {
    /// The limit, if there is one.
    pub fn limit(self) -> Option<T> {
        match self {
            Self::Off => None,
            Self::On(value) => Some(value),
        }
    }
}

impl<T: Serialize> Serialize for OrOff<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => serializer.serialize_str("off"),
            Self::On(value) => value.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de> + std::str::FromStr> Deserialize<'de> for OrOff<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<T> {
            Value(T),
            Text(String),
        }
        match Raw::<T>::deserialize(deserializer)? {
            Raw::Value(value) => Ok(Self::On(value)),
            // Environment variables arrive as text, numbers included.
            Raw::Text(text) if text == "off" => Ok(Self::Off),
            Raw::Text(text) => text
                .parse()
                .map(Self::On)
                .map_err(|_| serde::de::Error::custom(format!("expected a number or \"off\", not {text:?}"))),
        }
    }
}
