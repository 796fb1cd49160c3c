//! The console's memory of what the processes export over OTLP: spans grouped by trace,
//! bounded ([`MAX_SPANS`], [`MAX_TRACES`]: the oldest traces go first), and log records
//! ([`MAX_LOGS`], the oldest go first), each with the trace and span it was written in, if any.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// Spans kept at most, over every trace.
pub const MAX_SPANS: usize = 50_000;
/// Traces kept at most.
pub const MAX_TRACES: usize = 2_000;
/// Log records kept at most.
pub const MAX_LOGS: usize = 50_000;

/// One received span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a trace's root.
    pub parent_id: String,
    /// The exporting process (`service.name`).
    pub process: String,
    pub name: String,
    /// `server`, `client`, `producer`, `consumer` or `internal`.
    pub kind: &'static str,
    pub start_ns: u64,
    pub end_ns: u64,
    pub error: bool,
    pub attributes: Vec<(String, String)>,
}

/// A log line: what was written, when and how severe.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time_ns: u64,
    pub level: String,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// One trace in the list: where it started, what it touched, how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's name (or the earliest span's, while the root has not arrived).
    pub root: String,
    pub processes: BTreeSet<String>,
    pub spans: usize,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub errors: usize,
}

/// A log line with where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub process: String,
    /// Empty for a line written outside any exported span.
    pub trace_id: String,
    pub span_id: String,
    /// The span's name, when the console holds the span.
    pub span: String,
    pub log: LogRecord,
}

/// What the log page asks for; empty fields match everything.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    pub process: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub trace: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Default)]
struct Inner {
    traces: BTreeMap<String, Vec<SpanRecord>>,
    /// Trace ids in the order they were first seen, oldest first.
    order: VecDeque<String>,
    spans: usize,
    /// Oldest first.
    logs: VecDeque<LogLine>,
}

/// The console's spans, shared by the OTLP receiver and the pages.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|a| (a.key.clone(), text(a.value.as_ref())))
        .collect()
}

/// The exporting process: the resource's `service.name`.
fn process_of(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
        .map(|a| text(a.value.as_ref()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The level of an OTLP severity number (1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17+
/// error).
fn severity(number: i32) -> String {
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        13..=16 => "warn",
        17.. => "error",
        _ => "info",
    }
    .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind(k: i32) -> &'static str {
    match k {
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "internal",
    }
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Keeps the spans of one OTLP export; returns how many.
    pub fn ingest(&self, request: ExportTraceServiceRequest) -> usize {
        let mut records = Vec::new();
        for resource in request.resource_spans {
            let process = process_of(resource.resource.as_ref());
            for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                records.push(SpanRecord {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                    process: process.clone(),
                    kind: kind(span.kind),
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano.max(span.start_time_unix_nano),
                    error: span.status.as_ref().is_some_and(|s| s.code == 2),
                    attributes: pairs(&span.attributes),
                    name: span.name,
                });
            }
        }
        let n = records.len();
        self.with(|inner| {
            for r in records {
                if !inner.traces.contains_key(&r.trace_id) {
                    inner.order.push_back(r.trace_id.clone());
                }
                inner.traces.entry(r.trace_id.clone()).or_default().push(r);
                inner.spans += 1;
            }
            while inner.spans > MAX_SPANS || inner.order.len() > MAX_TRACES {
                let Some(oldest) = inner.order.pop_front() else {
                    break;
                };
                if let Some(gone) = inner.traces.remove(&oldest) {
                    inner.spans -= gone.len();
                }
            }
        });
        metrics::counter!("console_spans_received_total").increment(n as u64);
        n
    }

    /// The newest traces first, at most `limit`.
    pub fn recent(&self, limit: usize) -> Vec<TraceSummary> {
        self.with(|inner| {
            inner
                .order
                .iter()
                .rev()
                .take(limit)
                .filter_map(|id| inner.traces.get(id).map(|s| summary(id, s)))
                .collect()
        })
    }

    /// The spans of one trace, earliest first.
    pub fn trace(&self, trace_id: &str) -> Option<Vec<SpanRecord>> {
        let mut spans = self.with(|inner| inner.traces.get(trace_id).cloned())?;
        spans.sort_by_key(|s| (s.start_ns, s.end_ns));
        Some(spans)
    }

    /// Keeps the log records of one OTLP export; returns how many.
    pub fn ingest_logs(&self, request: ExportLogsServiceRequest) -> usize {
        let mut lines = Vec::new();
        for resource in request.resource_logs {
            let process = process_of(resource.resource.as_ref());
            for record in resource.scope_logs.into_iter().flat_map(|s| s.log_records) {
                let level = if record.severity_text.is_empty() {
                    severity(record.severity_number)
                } else {
                    record.severity_text.to_ascii_lowercase()
                };
                let time_ns = if record.time_unix_nano == 0 {
                    record.observed_time_unix_nano
                } else {
                    record.time_unix_nano
                };
                lines.push(LogLine {
                    process: process.clone(),
                    trace_id: hex(&record.trace_id),
                    span_id: hex(&record.span_id),
                    span: String::new(),
                    log: LogRecord {
                        time_ns,
                        level,
                        message: text(record.body.as_ref()),
                        // Where in the code and which module: noise on a page of logs.
                        fields: pairs(&record.attributes)
                            .into_iter()
                            .filter(|(k, _)| !k.starts_with("code.") && !k.starts_with("log."))
                            .collect(),
                    },
                });
            }
        }
        let n = lines.len();
        self.with(|inner| {
            inner.logs.extend(lines);
            while inner.logs.len() > MAX_LOGS {
                inner.logs.pop_front();
            }
        });
        metrics::counter!("console_logs_received_total").increment(n as u64);
        n
    }

    /// The log lines that match `filter`, newest first, at most `limit`, each with its span's
    /// name when the console holds the span.
    pub fn logs(&self, filter: &LogFilter, limit: usize) -> Vec<LogLine> {
        self.with(|inner| {
            let mut matching: Vec<&LogLine> = inner
                .logs
                .iter()
                .filter(|l| filter.process.is_empty() || l.process == filter.process)
                .filter(|l| filter.trace.is_empty() || l.trace_id == filter.trace)
                .filter(|l| filter.level.is_empty() || l.log.level == filter.level)
                .filter(|l| {
                    filter.text.is_empty()
                        || l.log.message.contains(&filter.text)
                        || l.log.fields.iter().any(|(_, v)| v.contains(&filter.text))
                })
                .collect();
            matching.sort_by_key(|l| std::cmp::Reverse(l.log.time_ns));
            // Only the lines shown are copied out, each named after its span.
            matching
                .into_iter()
                .take(limit)
                .map(|l| {
                    let mut line = l.clone();
                    if let Some(span) = inner
                        .traces
                        .get(&l.trace_id)
                        .and_then(|spans| spans.iter().find(|s| s.span_id == l.span_id))
                    {
                        line.span.clone_from(&span.name);
                    }
                    line
                })
                .collect()
        })
    }

    /// How many log records are kept.
    pub fn log_count(&self) -> usize {
        self.with(|inner| inner.logs.len())
    }

    /// How many spans are kept.
    pub fn len(&self) -> usize {
        self.with(|inner| inner.spans)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn summary(id: &str, spans: &[SpanRecord]) -> TraceSummary {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let root = spans
        .iter()
        .find(|s| s.parent_id.is_empty())
        .or_else(|| spans.iter().min_by_key(|s| s.start_ns))
        .map(|s| format!("{}: {}", s.process, s.name))
        .unwrap_or_default();
    TraceSummary {
        trace_id: id.to_string(),
        root,
        processes: spans.iter().map(|s| s.process.clone()).collect(),
        spans: spans.len(),
        start_ns: start,
        duration_ns: end.saturating_sub(start),
        errors: spans.iter().filter(|s| s.error).count(),
    }
}

/// Each span of `spans` (one trace, earliest first) with its depth in the tree; spans whose
/// parent has not arrived count as roots.
pub fn depths(spans: &[SpanRecord]) -> Vec<usize> {
    let index: BTreeMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_str(), i))
        .collect();
    spans
        .iter()
        .map(|s| {
            let mut depth = 0;
            let mut parent = s.parent_id.as_str();
            while let Some(&i) = index.get(parent) {
                depth += 1;
                parent = spans[i].parent_id.as_str();
                if depth > spans.len() {
                    break;
                }
            }
            depth
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLog, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    /// An export from `process` of spans (trace byte, span byte, parent byte or 0, name,
    /// start, end).
    pub(crate) fn export(
        process: &str,
        spans: &[(u8, u8, u8, &str, u64, u64)],
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", process)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .iter()
                        .map(|&(t, id, parent, name, start, end)| Span {
                            trace_id: vec![t; 16],
                            span_id: vec![id; 8],
                            parent_span_id: if parent == 0 {
                                Vec::new()
                            } else {
                                vec![parent; 8]
                            },
                            name: name.into(),
                            kind: 2,
                            start_time_unix_nano: start,
                            end_time_unix_nano: end,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// An export from `process` of log records (trace byte or 0, span byte, level, message,
    /// time), as `opentelemetry-appender-tracing` writes them.
    pub(crate) fn log_export(
        process: &str,
        records: &[(u8, u8, &str, &str, u64)],
    ) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", process)],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records
                        .iter()
                        .map(|&(t, span, level, message, time)| OtlpLog {
                            time_unix_nano: time,
                            severity_text: level.into(),
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(message.into())),
                            }),
                            attributes: vec![kv("status", "200"), kv("code.line.number", "7")],
                            trace_id: if t == 0 { Vec::new() } else { vec![t; 16] },
                            span_id: if t == 0 { Vec::new() } else { vec![span; 8] },
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn spans_group_into_traces_and_logs_name_their_span() {
        let store = Store::new();
        store.ingest(export("gateway", &[(1, 1, 0, "GET /orders", 100, 900)]));
        store.ingest(export(
            "orders",
            &[
                (1, 2, 1, "GET /orders", 200, 800),
                (1, 3, 2, "call products", 300, 400),
            ],
        ));
        store.ingest(export(
            "products",
            &[(2, 9, 0, "GET /products", 1000, 1100)],
        ));
        let recent = store.recent(10);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].trace_id, "02".repeat(16), "newest first");
        let one = &recent[1];
        assert_eq!(one.root, "gateway: GET /orders");
        assert_eq!(one.spans, 3);
        assert_eq!(one.duration_ns, 800);
        assert_eq!(one.processes.len(), 2);
        let spans = store.trace(&"01".repeat(16)).unwrap();
        assert_eq!(depths(&spans), [0, 1, 2]);
        store.ingest_logs(log_export(
            "orders",
            &[
                (1, 2, "INFO", "handled", 750),
                (1, 3, "WARN", "products slow", 390),
                (0, 0, "INFO", "relay started", 10),
            ],
        ));
        store.ingest_logs(log_export("products", &[(2, 9, "ERROR", "no stock", 1050)]));
        let logs = store.logs(
            &LogFilter {
                process: "orders".into(),
                ..Default::default()
            },
            10,
        );
        assert_eq!(logs.len(), 3, "a line outside any span is kept too");
        assert_eq!(logs[0].log.message, "handled", "newest first");
        assert_eq!(logs[0].log.level, "info");
        assert_eq!(
            logs[0].span, "GET /orders",
            "named after the span it was written in"
        );
        assert_eq!(logs[1].span, "call products");
        assert_eq!(logs[2].trace_id, "");
        assert_eq!(
            logs[0].log.fields,
            [("status".to_string(), "200".to_string())],
            "where in the code is left out"
        );
        let of_trace = store.logs(
            &LogFilter {
                trace: "01".repeat(16),
                level: "warn".into(),
                ..Default::default()
            },
            10,
        );
        assert_eq!(of_trace.len(), 1);
        assert_eq!(of_trace[0].log.message, "products slow");
        let by_text = store.logs(
            &LogFilter {
                text: "stock".into(),
                ..Default::default()
            },
            10,
        );
        assert_eq!(by_text.len(), 1);
        assert_eq!(by_text[0].process, "products");
    }

    #[test]
    fn log_memory_is_bounded_by_dropping_the_oldest_lines() {
        let store = Store::new();
        let batch: Vec<(u8, u8, &str, &str, u64)> =
            (0..1000).map(|i| (0, 0, "INFO", "tick", i)).collect();
        for _ in 0..(MAX_LOGS / 1000 + 2) {
            store.ingest_logs(log_export("orders", &batch));
        }
        assert_eq!(store.log_count(), MAX_LOGS);
    }

    #[test]
    fn memory_is_bounded_by_dropping_the_oldest_traces() {
        let store = Store::new();
        for n in 0..(MAX_TRACES + 5) {
            let t = (n % 250) as u8 + 1;
            let mut e = export("orders", &[(t, 1, 0, "x", 0, 1)]);
            // A distinct trace id per export.
            e.resource_spans[0].scope_spans[0].spans[0].trace_id =
                (n as u128).to_be_bytes().to_vec();
            store.ingest(e);
        }
        assert_eq!(store.recent(usize::MAX).len(), MAX_TRACES);
        assert_eq!(store.len(), MAX_TRACES);
        assert!(
            store.trace(&hex(&0u128.to_be_bytes())).is_none(),
            "the oldest went"
        );
    }
}
