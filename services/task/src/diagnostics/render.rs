//! The terminal view of a report and of a bench: plain text tables, widest facts first.

use std::fmt::Write;

use super::{
    bench::BenchReport,
    report::{DEAD_TUPLES_MIN, PgReport, Report, SqliteReport},
};

fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

/// Cuts a statement to `width` characters for a table cell.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    }
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The report as text.
pub fn report(r: &Report) -> String {
    let mut out = format!("database report ({}, {})\n", r.backend, r.taken_at);
    if let Some(pg) = &r.postgres {
        postgres(&mut out, pg);
    }
    if let Some(lite) = &r.sqlite {
        sqlite(&mut out, lite);
    }
    out
}

fn postgres(out: &mut String, pg: &PgReport) {
    let _ = writeln!(out, "PostgreSQL {}\n", pg.server_version);
    let s = &pg.statements;
    let _ = writeln!(
        out,
        "== top statements by mean time (pg_stat_statements; slow: mean > {} ms)",
        s.slow_mean_ms
    );
    if s.available {
        let _ = writeln!(
            out,
            "{:>9} {:>11} {:>10} {:>10} {:>10}  statement",
            "calls", "total ms", "mean ms", "max ms", "stddev"
        );
        for st in &s.top {
            let flag = if st.slow { "SLOW " } else { "" };
            let _ = writeln!(
                out,
                "{:>9} {:>11.1} {:>10.2} {:>10.2} {:>10.2}  {flag}{}",
                st.calls,
                st.total_ms,
                st.mean_ms,
                st.max_ms,
                st.stddev_ms,
                cut(&st.query, 90)
            );
        }
        let slow = s.top.iter().filter(|st| st.slow).count();
        let _ = writeln!(out, "{slow} of the top {} are slow", s.top.len());
    } else {
        let _ = writeln!(out, "unavailable: {}", s.reason.as_deref().unwrap_or("unknown"));
        let _ = writeln!(out, "to enable it:");
        for (i, step) in s.how_to_enable.iter().enumerate() {
            let _ = writeln!(out, "  {}. {step}", i + 1);
        }
    }
    let m = &pg.missing_indexes;
    let _ = writeln!(
        out,
        "\n== columns that look like missing indexes (n_distinct > 100 or proportional, |correlation| < 0.5, leading no index)"
    );
    if m.analyzed_tables == 0 {
        let _ = writeln!(
            out,
            "no planner statistics in schema public yet: run ANALYZE (or wait for autovacuum)"
        );
    }
    for c in &m.candidates {
        let _ = writeln!(
            out,
            "  {}.{}  n_distinct {:.3}  correlation {:.2}",
            c.table, c.column, c.n_distinct, c.correlation
        );
    }
    if m.analyzed_tables > 0 && m.candidates.is_empty() {
        let _ = writeln!(out, "  none");
    }
    let _ = writeln!(out, "\n== tables with more than {DEAD_TUPLES_MIN} dead tuples");
    for d in &pg.dead_tuples {
        let _ = writeln!(
            out,
            "  {:<28} dead {:>9}  live {:>9}  {:>8.1} MiB  last autovacuum {}",
            d.table,
            d.dead,
            d.live,
            mib(d.total_bytes),
            d.last_autovacuum.as_deref().unwrap_or("never")
        );
    }
    if pg.dead_tuples.is_empty() {
        let _ = writeln!(out, "  none");
    }
    let c = &pg.connections;
    let _ = writeln!(
        out,
        "\n== connections: {} in use of max_connections {} ({} reserved for superusers; {} not counted: this command's own)",
        c.in_use, c.max_connections, c.superuser_reserved, c.own_application
    );
    for g in &c.by_application {
        let app = if g.application.is_empty() {
            "(no application_name)"
        } else {
            &g.application
        };
        let _ = writeln!(out, "  {app:<32} {:<22} {:>5}", g.state, g.connections);
    }
    let h = &pg.cache;
    let ratio = h
        .ratio
        .map_or_else(|| "n/a".to_owned(), |r| format!("{:.2}%", r * 100.0));
    let verdict = if h.ok { "ok" } else { "BELOW TARGET" };
    let _ = writeln!(
        out,
        "\n== buffer cache hit ratio: {ratio} (target > {:.0}%: {verdict}; {} hits, {} reads)",
        h.target * 100.0,
        h.blocks_hit,
        h.blocks_read
    );
}

fn sqlite(out: &mut String, lite: &SqliteReport) {
    let _ = writeln!(out, "SQLite {} ({:.1} MiB)\n\n== rows", lite.file, mib(lite.size_bytes));
    for t in &lite.tables {
        let _ = writeln!(out, "  {:<28} {:>10}", t.table, t.rows);
    }
    let _ = writeln!(out, "\n== query plans of the hot queries");
    for p in &lite.plans {
        let scans = if p.full_scans.is_empty() {
            String::new()
        } else {
            format!("  [FULL SCAN: {}]", p.full_scans.join("; "))
        };
        let _ = writeln!(out, "-- {}{scans}\n   {}", p.name, cut(&p.sql, 160));
        for line in &p.plan {
            let _ = writeln!(out, "   {line}");
        }
    }
}

/// The bench as text: one row per query with both index sets side by side, then the pool levels.
pub fn bench(b: &BenchReport) -> String {
    let mut out = format!(
        "database bench ({}, {} timed runs per query after one warm-up; ms)\n\n",
        b.backend, b.iterations
    );
    let _ = writeln!(
        out,
        "{:<28} {:>6} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9} {:>9}",
        "query", "rows", "seed p50", "seed p95", "seed max", "none p50", "none p95", "none max", "none/seed"
    );
    let find = |name: &str, set| b.queries.iter().find(|q| q.name == name && q.indexes == set);
    for q in b
        .queries
        .iter()
        .filter(|q| q.indexes == emrlab_common::indexes::IndexSet::Seed)
    {
        let Some(none) = find(q.name, emrlab_common::indexes::IndexSet::None) else {
            continue;
        };
        let (s, n) = (&q.histogram, &none.histogram);
        let ratio = if s.is_empty() || n.is_empty() {
            "-".to_owned()
        } else {
            format!(
                "{:.2}x",
                n.value_at_quantile(0.5) as f64 / s.value_at_quantile(0.5).max(1) as f64
            )
        };
        let _ = writeln!(
            out,
            "{:<28} {:>6} {:>9.2} {:>9.2} {:>9.2}   {:>9.2} {:>9.2} {:>9.2} {:>9}",
            q.name,
            q.rows,
            ms(s.value_at_quantile(0.5)),
            ms(s.value_at_quantile(0.95)),
            ms(s.max()),
            ms(n.value_at_quantile(0.5)),
            ms(n.value_at_quantile(0.95)),
            ms(n.max()),
            ratio
        );
        for (set, e) in [("seed", &q.error), ("none", &none.error)] {
            if let Some(e) = e {
                let _ = writeln!(out, "    failed with {set} indexes: {}", cut(e, 120));
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{:>6} {:>10} {:>9} {:>9} {:>9} {:>12} {:>12} {:>7}",
        "pool", "queries/s", "p50", "p95", "p99", "acquire p50", "acquire p99", "failed"
    );
    for l in &b.stress {
        if let Some(reason) = &l.skipped {
            let _ = writeln!(out, "{:>6} skipped: {reason}", l.connections);
            continue;
        }
        let _ = writeln!(
            out,
            "{:>6} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>12.3} {:>12.3} {:>7}",
            l.connections,
            l.queries_per_second(),
            ms(l.latency.value_at_quantile(0.5)),
            ms(l.latency.value_at_quantile(0.95)),
            ms(l.latency.value_at_quantile(0.99)),
            ms(l.acquire.value_at_quantile(0.5)),
            ms(l.acquire.value_at_quantile(0.99)),
            l.failed
        );
        if let Some(e) = &l.first_error {
            let _ = writeln!(out, "       first error: {}", cut(e, 120));
        }
    }
    let _ = writeln!(out, "\ntook {:.1} s", b.elapsed.as_secs_f64());
    out
}
