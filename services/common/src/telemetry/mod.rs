//! The process's one tracing subscriber: log lines always, and OpenTelemetry spans exported over
//! OTLP/HTTP when an endpoint is given. Without one no exporter, layer or propagation work exists:
//! [`enabled`] is false and the span helpers ([`server_span`], [`send`]…) return at once.

mod propagation;

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, filter::Targets, fmt, layer::SubscriberExt, util::SubscriberInitExt};

pub use propagation::{annotate, client_span, event, inject, record_failure, record_status, send, server_span};

/// Whether spans leave the process; set once, when [`install`] installs an exporter.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The spec's signal path, appended to an OTLP/HTTP base URL.
const TRACES_PATH: &str = "/v1/traces";

/// What the exporter sees of its own HTTP client and the crates below it: nothing. Their spans
/// would be exported in turn and keep the exporter busy with itself.
const EXPORT_FILTER: &str =
    "info,sqlx=warn,hyper=off,h2=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";

/// A flush on shutdown waits at most this long for the collector, so a dead one cannot hold up
/// the exit.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Where spans go and in whose name.
#[derive(Debug, Clone)]
pub struct Export {
    /// The OTLP/HTTP base URL (`http://otel-collector:4318`); `/v1/traces` is appended.
    pub endpoint: String,
    /// `service.name`, unless `OTEL_SERVICE_NAME` names one.
    pub service_name: String,
}

impl Export {
    /// An export to `endpoint`, or `None` when it is empty (`OTEL_EXPORTER_OTLP_ENDPOINT=`
    /// switches export off, as the compose file leaves it).
    pub fn to(endpoint: Option<&str>, service_name: impl Into<String>) -> Option<Self> {
        let endpoint = endpoint.map(str::trim).filter(|e| !e.is_empty())?;
        Some(Self {
            endpoint: endpoint.to_owned(),
            service_name: service_name.into(),
        })
    }

    fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with(TRACES_PATH) {
            base.to_owned()
        } else {
            format!("{base}{TRACES_PATH}")
        }
    }
}

/// The exporter could not be built (an endpoint that is not a URL).
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct ExportError(String);

/// Keeps the exporter alive; dropping it flushes the spans still queued and stops the exporter.
#[must_use = "dropping it stops the exporter"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports every span ended so far; blocks until the collector answered (tests read their
    /// receiver right after).
    pub fn force_flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.force_flush()
        {
            tracing::warn!(error = %error, "flushing spans failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_WAIT)
        {
            eprintln!("warning: flushing spans at exit: {error}");
        }
    }
}

/// True when spans are exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The log filter unless `RUST_LOG` says otherwise: `info`, quieter for sqlx and hyper.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn";

/// Installs a fmt subscriber filtered by `RUST_LOG` (default [`DEFAULT_FILTER`]).
/// A second call is harmless, which lets tests call it from every test.
pub fn init() {
    init_with(DEFAULT_FILTER);
}

/// Logging with another default than [`init`]'s (`RUST_LOG` still wins): commands that run the
/// platform under their own output (an experiment's rounds) keep it to warnings.
pub fn init_with(default_filter: &str) {
    let _ = tracing_subscriber::registry()
        .with(log_filter(default_filter))
        .with(log_lines())
        .try_init();
}

/// The log-line layer. Colours only on a terminal (and without `NO_COLOR`): escape codes would
/// end up in log files and `docker logs`, and a coloured span costs more to format, which every
/// request span is as it opens.
fn log_lines<S>() -> fmt::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    fmt::layer().with_target(false).with_ansi(colour)
}

/// `RUST_LOG` (else `default_filter`) as a static [`Targets`] filter unless it filters on spans
/// (`[request{route=…}]=debug`): an [`EnvFilter`] takes a read lock on every span enter and exit
/// (several per request), which only span directives need.
fn log_filter<S>(default_filter: &str) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    directives_filter(from_env.as_deref().unwrap_or(default_filter), default_filter)
}

/// [`log_filter`] for the given directives. Span directives, and directives [`Targets`] cannot
/// parse, get the [`EnvFilter`] as before (`default_filter` when it cannot parse them either).
fn directives_filter<S>(directives: &str, default_filter: &str) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !directives.contains('[')
        && let Ok(targets) = directives.parse::<Targets>()
    {
        return targets.boxed();
    }
    EnvFilter::try_new(directives)
        .unwrap_or_else(|_| EnvFilter::new(default_filter))
        .boxed()
}

/// For tests: a subscriber only when `TEST_LOG` is set, so passing tests stay quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init();
    }
}

/// [`init_with`], plus span export when `export` is given. The log filter does not apply to
/// exported spans: an experiment logs only warnings but still exports every request span.
/// Call it outside an async context or on a multi-threaded runtime (the exporter builds a
/// blocking HTTP client on a thread of its own).
pub fn install(default_filter: &str, export: Option<Export>) -> Result<Telemetry, ExportError> {
    let Some(export) = export else {
        init_with(default_filter);
        return Ok(Telemetry { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.traces_url())
        .build()
        .map_err(|e| ExportError(e.to_string()))?;
    // The default resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours only
    // fills in a name when the environment gave none.
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|n| !n.is_empty()) {
        Resource::builder().build()
    } else {
        Resource::builder()
            .with_service_name(export.service_name.clone())
            .build()
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("emrlab");
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let installed = tracing_subscriber::registry()
        .with(log_lines().with_filter(log_filter))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(EnvFilter::new(EXPORT_FILTER)),
        )
        .try_init();
    if installed.is_err() {
        // Another subscriber was first (a second call in one test process): spans would never
        // reach this exporter, so say so rather than pretend.
        let _ = provider.shutdown();
        return Err(ExportError("a tracing subscriber is already installed".to_owned()));
    }
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    ENABLED.store(true, Ordering::Relaxed);
    tracing::info!(endpoint = %export.traces_url(), service = %export.service_name, "exporting spans over OTLP/HTTP");
    Ok(Telemetry {
        provider: Some(provider),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, atomic::AtomicUsize};

    #[test]
    fn an_empty_endpoint_switches_export_off_and_a_base_url_gets_the_traces_path() {
        assert!(Export::to(Some(""), "emrlab").is_none());
        assert!(Export::to(Some("  "), "emrlab").is_none());
        assert!(Export::to(None, "emrlab").is_none());
        let base = Export::to(Some("http://otel-collector:4318/"), "emrlab").unwrap();
        assert_eq!(base.traces_url(), "http://otel-collector:4318/v1/traces");
        let full = Export::to(Some("http://collector:4318/v1/traces"), "emrlab").unwrap();
        assert_eq!(full.traces_url(), "http://collector:4318/v1/traces");
    }

    /// Counts the events that get through the filter below it.
    struct Count(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many of the events `emit` sends get through `directives`.
    fn passed(directives: &str, emit: impl FnOnce()) -> usize {
        let count = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(directives_filter(directives, "error"))
            .with(Count(count.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        count.load(Ordering::Relaxed)
    }

    #[test]
    fn rust_log_targets_levels_and_span_directives_all_still_filter() {
        let targets = "warn,emrlab_common::telemetry=debug";
        assert_eq!(passed(targets, || tracing::debug!("ours")), 1);
        assert_eq!(passed(targets, || tracing::trace!("ours, too verbose")), 0);
        assert_eq!(passed(targets, || tracing::debug!(target: "hyper", "theirs")), 0);
        assert_eq!(passed(targets, || tracing::warn!(target: "hyper", "theirs")), 1);

        let spans = "warn,[request{route=/a}]=debug";
        let inside =
            |route: &'static str| move || tracing::info_span!("request", route).in_scope(|| tracing::debug!("inside"));
        assert_eq!(passed(spans, inside("/a")), 1);
        assert_eq!(passed(spans, inside("/b")), 0);

        assert_eq!(
            passed("not a = filter = at all", || tracing::warn!("warn")),
            0,
            "falls back to the default"
        );
        assert_eq!(passed("not a = filter = at all", || tracing::error!("error")), 1);
    }
}
