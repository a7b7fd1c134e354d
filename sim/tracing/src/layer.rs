//! [`SimLayer`]: a `tracing-subscriber` layer that writes each event (and, as JSON, each new
//! span) stamped with the simulated time and the host whose task emitted it, read from
//! [`testbed_sim::context`]. It never reads the wall clock and never prints span ids (they are
//! process-global counters), so the same seed gives the same lines.

use crate::capture::{Captured, Line};
use crate::fields::{push_json_str, Rendered, FIELDS_BYTES_MAX};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use testbed_sim::context::{with_stamp, Stamp};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Scope};
use tracing_subscriber::Layer;

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `[  1.234567s client-3]  INFO conn{peer=10.0.0.1:80}:request{id=4}: target: sent`,
    /// events only.
    Human,
    /// One JSON object per line for every event (`"kind":"TracingEvent"`) and every new span
    /// (`"kind":"TracingSpan"`), beginning with `"t_ns"` like the simulator's trace lines.
    Jsonl,
}

enum Sink {
    Writer {
        out: Mutex<Box<dyn Write + Send>>,
        failed: AtomicBool,
    },
    Capture(Captured),
}

/// The layer. Build one with [`SimLayer::human`], [`SimLayer::jsonl`] or
/// [`SimLayer::captured`], filter it (`layer.with_filter(targets)`) and put it on a registry;
/// [`crate::subscriber`] does both.
pub struct SimLayer {
    format: Format,
    sink: Sink,
}

impl std::fmt::Debug for SimLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLayer")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A span's fields, kept in the registry's extensions for the lines of events inside it.
struct SpanFields(Rendered);

impl SimLayer {
    /// Human-readable lines to `out` (e.g. `std::io::stderr()`).
    pub fn human(out: impl Write + Send + 'static) -> SimLayer {
        SimLayer::to_writer(Format::Human, out)
    }

    /// JSON lines to `out`.
    pub fn jsonl(out: impl Write + Send + 'static) -> SimLayer {
        SimLayer::to_writer(Format::Jsonl, out)
    }

    fn to_writer(format: Format, out: impl Write + Send + 'static) -> SimLayer {
        SimLayer::new(
            format,
            Sink::Writer {
                out: Mutex::new(Box::new(out)),
                failed: AtomicBool::new(false),
            },
        )
    }

    fn new(format: Format, sink: Sink) -> SimLayer {
        crate::interest::keep_interest_general();
        SimLayer { format, sink }
    }

    /// Lines in `format` kept in memory, at most `max_lines` of them; the [`Captured`] reads
    /// them.
    pub fn captured(format: Format, max_lines: usize) -> (SimLayer, Captured) {
        let c = Captured::new(max_lines);
        (SimLayer::new(format, Sink::Capture(c.clone())), c)
    }

    fn emit(&self, stamp: Option<Stamp<'_>>, text: String) {
        match &self.sink {
            Sink::Capture(c) => c.push(Line {
                t_ns: stamp.and_then(|s| s.time).map(|t| t.as_nanos()),
                trace_events: stamp.and_then(|s| s.trace_events),
                text,
            }),
            Sink::Writer { out, failed } => {
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                let r = writeln!(out, "{text}");
                if let Err(e) = r {
                    if !failed.swap(true, Ordering::Relaxed) {
                        eprintln!("testbed-tracing: writing a trace line failed: {e} (further failures are not reported)");
                    }
                }
            }
        }
    }

    /// `[  1.234567s host] LEVEL `: the stamp of a human line.
    fn human_prefix(stamp: Option<Stamp<'_>>, meta: &Metadata<'_>, out: &mut String) {
        match stamp.and_then(|s| s.time) {
            Some(t) => {
                let ns = t.as_nanos();
                let _ = write!(
                    out,
                    "[{:>3}.{:06}s",
                    ns / 1_000_000_000,
                    ns % 1_000_000_000 / 1_000
                );
            }
            None => out.push_str("[          ?"),
        }
        let host = stamp.and_then(|s| s.host).unwrap_or("-");
        let _ = write!(out, " {host}] {:>5} ", meta.level());
    }

    /// `"t_ns":…,"kind":"…","host":…,"level":"…","target":"…"`.
    fn json_head(stamp: Option<Stamp<'_>>, kind: &str, meta: &Metadata<'_>, out: &mut String) {
        out.push_str("{\"t_ns\":");
        match stamp.and_then(|s| s.time) {
            Some(t) => {
                let _ = write!(out, "{}", t.as_nanos());
            }
            None => out.push_str("null"),
        }
        let _ = write!(out, ",\"kind\":\"{kind}\",\"host\":");
        match stamp.and_then(|s| s.host) {
            Some(h) => push_json_str(out, h),
            None => out.push_str("null"),
        }
        let _ = write!(out, ",\"level\":\"{}\",\"target\":", meta.level());
        push_json_str(out, meta.target());
    }
}

/// `conn{peer=…}:request{id=4}` for human lines; `[{"name":…,"fields":{…}},…]` for JSON.
fn render_scope<S>(scope: Option<Scope<'_, S>>, format: Format, out: &mut String)
where
    S: for<'a> LookupSpan<'a>,
{
    let mut first = true;
    if format == Format::Jsonl {
        out.push('[');
    }
    for span in scope.into_iter().flat_map(Scope::from_root) {
        let ext = span.extensions();
        let fields = ext.get::<SpanFields>().map(|f| &f.0);
        match format {
            Format::Human => {
                if !first {
                    out.push(':');
                }
                out.push_str(span.name());
                if let Some(f) = fields.filter(|f| !f.human().is_empty()) {
                    let _ = write!(out, "{{{}}}", f.human());
                }
            }
            Format::Jsonl => {
                if !first {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                push_json_str(out, span.name());
                let _ = write!(
                    out,
                    ",\"fields\":{{{}}}}}",
                    fields.map_or("", |f| f.json.as_str())
                );
            }
        }
        first = false;
    }
    if format == Format::Jsonl {
        out.push(']');
    }
}

impl<S> Layer<S> for SimLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Rendered::default();
        attrs.record(&mut fields);
        if self.format == Format::Jsonl {
            with_stamp(|stamp| {
                let meta = attrs.metadata();
                let mut line = String::new();
                SimLayer::json_head(stamp, "TracingSpan", meta, &mut line);
                line.push_str(",\"name\":");
                push_json_str(&mut line, meta.name());
                line.push_str(",\"spans\":");
                render_scope(span.parent().map(|p| p.scope()), self.format, &mut line);
                let _ = write!(line, ",\"fields\":{{{}}}}}", fields.json);
                self.emit(stamp, line);
            });
        }
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(f) if f.0.json.len() + f.0.text.len() < FIELDS_BYTES_MAX => {
                values.record(&mut f.0)
            }
            Some(f) => f.0.truncated = true,
            None => {
                let mut fields = Rendered::default();
                values.record(&mut fields);
                ext.insert(SpanFields(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Rendered::default();
        event.record(&mut fields);
        with_stamp(|stamp| {
            let mut line = String::new();
            match self.format {
                Format::Human => {
                    SimLayer::human_prefix(stamp, meta, &mut line);
                    let before = line.len();
                    render_scope(ctx.event_scope(event), self.format, &mut line);
                    if line.len() > before {
                        line.push_str(": ");
                    }
                    let _ = write!(line, "{}: {}", meta.target(), fields.human());
                }
                Format::Jsonl => {
                    SimLayer::json_head(stamp, "TracingEvent", meta, &mut line);
                    line.push_str(",\"spans\":");
                    render_scope(ctx.event_scope(event), self.format, &mut line);
                    let _ = write!(line, ",\"fields\":{{{}}}}}", fields.json);
                }
            }
            self.emit(stamp, line);
        });
    }
}
