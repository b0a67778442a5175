//! The Grafana dashboard in `packaging/grafana/` asks only for what the server exports: every
//! query of every panel names metrics that a fresh server's `/metrics` has, and every label it
//! groups by is a label of that metric.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{TestApp, TestDb};

const DASHBOARD: &str = "packaging/grafana/guildgate-dashboard.json";

/// Every metric of an exposition (histograms under their `_bucket`, `_sum` and `_count`
/// names too), with the labels its series carry.
fn exported(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name: String = line
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let labels = metrics.entry(name.clone()).or_default();
        if let Some(inside) = line[name.len()..]
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
        {
            for pair in inside.0.split(',') {
                if let Some((label, _)) = pair.split_once('=') {
                    labels.insert(label.trim().to_string());
                }
            }
        }
    }
    metrics
}

/// The `guildgate_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("guildgate_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// The labels of every `by (...)` in a PromQL expression.
fn grouped_by(expr: &str) -> Vec<String> {
    expr.split("by (")
        .skip(1)
        .filter_map(|part| part.split_once(')'))
        .flat_map(|(labels, _)| labels.split(',').map(|l| l.trim().to_string()))
        .collect()
}

#[test]
fn the_query_readers_find_names_and_labels() {
    assert_eq!(
        metric_names("sum by (a, b) (rate(guildgate_x_total[5m])) / guildgate_y"),
        ["guildgate_x_total", "guildgate_y"]
    );
    assert_eq!(
        grouped_by("histogram_quantile(0.9, sum by (le, route) (x))"),
        ["le", "route"]
    );
    let found = exported("# HELP a b\nguildgate_a{route=\"/x\",status=\"200\"} 1\nguildgate_b 2\n");
    assert_eq!(found["guildgate_a"].len(), 2);
    assert!(found["guildgate_b"].is_empty());
}

both_engines!(
    every_query_of_the_grafana_dashboard_names_an_exported_metric,
    |db: TestDb| async move {
        let app = TestApp::spawn(&db).await;
        // Requests are counted by route once there has been one.
        assert!(app.get("/healthz").await.status().is_success());
        let text = app.metrics().await.text().await.unwrap();
        let metrics = exported(&text);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(panels.len() >= 8, "{panels:?}");
        let mut used = BTreeSet::new();
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or_default();
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{title} has no query");
            for target in targets {
                let expr = target["expr"].as_str().expect("expr");
                let names = metric_names(expr);
                assert!(!names.is_empty(), "{title}: {expr} names no metric");
                for name in &names {
                    let labels = metrics
                        .get(name)
                        .unwrap_or_else(|| panic!("{title}: {name} is not exported:\n{text}"));
                    for label in grouped_by(expr) {
                        assert!(
                            labels.contains(&label),
                            "{title}: {name} has no label {label} ({labels:?})"
                        );
                    }
                    used.insert(name.clone());
                }
            }
        }
        // The provider's own metrics are all on the dashboard.
        for name in [
            "guildgate_sign_ins_total",
            "guildgate_tokens_issued_total",
            "guildgate_token_reuse_detected_total",
            "guildgate_http_requests_total",
            "guildgate_sessions_active",
            "guildgate_password_hash_queue_length",
        ] {
            assert!(used.contains(name), "{name} is not on the dashboard");
        }
    }
);
