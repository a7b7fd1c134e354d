//! An SVG timeline of a counterexample: one row per client, each operation a bar from call
//! to return; the linearized prefix numbered in order, the operation that cannot be placed
//! in red, indeterminate operations dashed to the right edge.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::counterexample::Counterexample;
use super::model::Model;
use super::op::History;

const ROW: f64 = 34.0;
const LEFT: f64 = 90.0;
const WIDTH: f64 = 1100.0;
const TOP: f64 = 40.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the counterexample's partition of `history` as a standalone SVG document.
/// At most `max_ops` operations around the failing one are drawn (the ones whose intervals
/// are closest in time), so large partitions stay legible.
pub fn counterexample_svg<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    cx: &Counterexample,
    max_ops: usize,
) -> String {
    let ops = &history.ops;
    let Some(stuck) = ops.get(cx.stuck) else {
        return String::new();
    };
    // The operations to draw: the partition's, nearest the stuck operation's call.
    let anchor = stuck.call.as_nanos();
    // The stuck operation, the end of the prefix (up to half the room), then the
    // partition's other operations nearest the stuck one's call.
    let room = max_ops.max(1);
    let mut chosen: Vec<usize> = vec![cx.stuck];
    let tail = cx.prefix.len().saturating_sub(room / 2);
    chosen.extend(cx.prefix[tail..].iter().copied().filter(|&i| i < ops.len()));
    let mut rest: Vec<usize> = cx
        .partition_ops
        .iter()
        .copied()
        .filter(|&i| i < ops.len() && i != cx.stuck && !cx.prefix.contains(&i))
        .collect();
    rest.sort_by_key(|&i| (ops[i].call.as_nanos().abs_diff(anchor), i));
    chosen.extend(rest);
    chosen.truncate(room);
    chosen.sort_by_key(|&i| (ops[i].call.as_nanos(), i));
    let order: BTreeMap<usize, usize> = cx
        .prefix
        .iter()
        .enumerate()
        .map(|(n, &i)| (i, n + 1))
        .collect();

    let t0 = chosen
        .iter()
        .map(|&i| ops[i].call.as_nanos())
        .min()
        .unwrap_or(0);
    let finite_max = chosen
        .iter()
        .map(|&i| {
            let o = &ops[i];
            if o.output.is_none() && o.ret.as_nanos() == u64::MAX {
                o.call.as_nanos()
            } else {
                o.ret.as_nanos()
            }
        })
        .max()
        .unwrap_or(t0);
    let span = (finite_max.saturating_sub(t0)).max(1) as f64 * 1.08;
    let x = |t: u64| LEFT + (t.saturating_sub(t0) as f64 / span).min(1.0) * (WIDTH - LEFT - 10.0);
    let clients: Vec<u32> = {
        let mut c: Vec<u32> = chosen.iter().map(|&i| ops[i].client).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let row_of: BTreeMap<u32, usize> = clients.iter().enumerate().map(|(r, &c)| (c, r)).collect();
    let height = TOP + ROW * clients.len() as f64 + 60.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="8" y="18" font-size="13">Not linearizable — partition {} — op #{} cannot be placed after {} linearized ops (state {})</text>"#,
        esc(&cx.partition),
        cx.stuck,
        cx.prefix.len(),
        esc(&cx.state_after_prefix)
    );
    for (r, c) in clients.iter().enumerate() {
        let y = TOP + ROW * r as f64;
        let _ = writeln!(
            s,
            r##"<text x="8" y="{:.1}">client {c}</text><line x1="{LEFT}" x2="{WIDTH}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            y + 20.0,
            y + 16.0,
            y + 16.0
        );
    }
    for &i in &chosen {
        let o = &ops[i];
        let y = TOP + ROW * row_of[&o.client] as f64 + 6.0;
        let open = o.ret.as_nanos() == u64::MAX;
        let x1 = x(o.call.as_nanos());
        let x2 = if open {
            WIDTH - 10.0
        } else {
            x(o.ret.as_nanos()).max(x1 + 3.0)
        };
        let (fill, stroke) = if i == cx.stuck {
            ("#f8b4b4", "#c00")
        } else if order.contains_key(&i) {
            ("#bfe3c0", "#2a7a2e")
        } else {
            ("#e6e6e6", "#888")
        };
        let dash = if open {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let label = model.describe_op(&o.input, o.output.as_ref());
        let tag = order.get(&i).map(|n| format!("{n}: ")).unwrap_or_default();
        let _ = writeln!(
            s,
            r#"<g><title>op #{i} client {} call {} ret {}: {}</title><rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="20" rx="3" fill="{fill}" stroke="{stroke}"{dash}/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            o.client,
            o.call.as_nanos(),
            if open {
                "inf".to_string()
            } else {
                o.ret.as_nanos().to_string()
            },
            esc(&label),
            x2 - x1,
            x1 + 3.0,
            y + 14.0,
            esc(&format!("{tag}{label}")),
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="8" y="{:.1}">green: linearized prefix (numbered in order); red: cannot be placed; grey: not reached; dashed: indeterminate</text>"##,
        height - 20.0
    );
    s.push_str("</svg>\n");
    s
}
