//! SVG plots with plotters' SVG backend: each plot is a string holding one `<svg>` element
//! (text as `<text>` elements, no fonts or scripts), inlined into the page.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A named line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// Why a plot could not be drawn.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// plotters failed.
    #[error("plot {plot:?}: {reason}")]
    Draw {
        /// Which plot.
        plot: String,
        /// plotters' message.
        reason: String,
    },
    /// Nothing to draw.
    #[error("plot {0:?}: no data")]
    Empty(String),
    /// Its input was not produced here; the message says why.
    #[error("{0}")]
    NotRun(String),
}

/// How a line chart looks.
pub struct LineChart<'a> {
    /// Caption above the plot.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// Draw each series as steps (a value holds until the next point).
    pub steps: bool,
    /// Where the legend goes.
    pub legend: SeriesLabelPosition,
}

const W: u32 = 960;
const H: u32 = 440;

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn draw_err<E: std::fmt::Display>(plot: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError::Draw {
        plot: plot.to_string(),
        reason: e.to_string(),
    }
}

fn stepped(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// A line chart. Earlier series are drawn wider, so lines that coincide stay visible.
pub fn line_chart(c: LineChart<'_>, series: &[Series]) -> Result<String, PlotError> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    if all().next().is_none() {
        return Err(PlotError::Empty(c.title.into()));
    }
    let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let y1 = all().fold(0.0f64, |a, p| a.max(p.1)) * 1.08;
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let y1 = if y1 > 0.0 { y1 } else { 1.0 };
    let err = draw_err(c.title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(&err)?;
        // Integer x values (loss %, nodes added) get integer ticks.
        let ints = all().all(|p| p.0.fract() == 0.0);
        let x_ticks = if ints { (x1 - x0) as usize + 1 } else { 10 };
        let x_fmt = |x: &f64| {
            if !ints {
                format!("{x:.1}")
            } else if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc(c.x_desc)
            .y_desc(c.y_desc)
            .x_labels(x_ticks)
            .x_label_formatter(&x_fmt)
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(2)
            .draw()
            .map_err(&err)?;
        let n = series.len();
        for (i, s) in series.iter().enumerate() {
            let col = color(i);
            let width = (n - i + 1).min(7) as u32;
            let pts = if c.steps {
                stepped(&s.points)
            } else {
                s.points.clone()
            };
            chart
                .draw_series(LineSeries::new(pts, col.stroke_width(width)))
                .map_err(&err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(3))
                });
            if !c.steps {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, col.filled())))
                    .map_err(&err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(c.legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Horizontal bars: one per `(label, value)`, the value printed at its end.
pub fn bar_chart(title: &str, x_desc: &str, bars: &[(String, f64)]) -> Result<String, PlotError> {
    if bars.is_empty() {
        return Err(PlotError::Empty(title.into()));
    }
    let err = draw_err(title);
    let xmax = bars.iter().fold(0.0f64, |a, b| a.max(b.1)) * 1.2;
    let xmax = if xmax > 0.0 { xmax } else { 1.0 };
    let n = bars.len() as i32;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (W, 80 + 48 * n.max(4) as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(300)
            .build_cartesian_2d(0.0..xmax, (0..n - 1).into_segmented())
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_labels(bars.len())
            .y_label_formatter(&|v: &SegmentValue<i32>| match v {
                SegmentValue::CenterOf(i) => {
                    bars.get(*i as usize).map_or(String::new(), |b| b.0.clone())
                }
                _ => String::new(),
            })
            .disable_y_mesh()
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let i = i as i32;
                let mut r = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    color(i as usize).filled(),
                );
                r.set_margin(8, 8, 0, 0);
                r
            }))
            .map_err(&err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Text::new(
                    format!(" {}", fmt_num(*v)),
                    (*v, SegmentValue::CenterOf(i as i32)),
                    TextStyle::from(("sans-serif", 15).into_font())
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// A number with about three significant digits.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// State timelines: per line, `(t, state index)` points drawn as steps, state names on the
/// y axis.
pub fn state_timeline(
    title: &str,
    x_desc: &str,
    states: &[&str],
    lines: &[(String, Vec<(f64, usize)>)],
) -> Result<String, PlotError> {
    let pts = || lines.iter().flat_map(|l| l.1.iter());
    if pts().next().is_none() {
        return Err(PlotError::Empty(title.into()));
    }
    let err = draw_err(title);
    let (x0, x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let x1 = if x1 > x0 {
        x1 + (x1 - x0) * 0.05
    } else {
        x0 + 1.0
    };
    let top = states.len().saturating_sub(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(100)
            .build_cartesian_2d(x0..x1, -0.3..top + 0.3)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_labels(states.len() * 2 + 1)
            .y_label_formatter(&|v: &f64| {
                let r = v.round();
                if (v - r).abs() < 1e-6 && r >= 0.0 {
                    states
                        .get(r as usize)
                        .map_or(String::new(), |s| s.to_string())
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(&err)?;
        for (i, (name, p)) in lines.iter().enumerate() {
            let col = color(i);
            let mut v: Vec<(f64, f64)> = p.iter().map(|&(t, s)| (t, s as f64)).collect();
            if let Some(&(_, last)) = v.last() {
                v.push((x1, last));
            }
            chart
                .draw_series(LineSeries::new(stepped(&v), col.stroke_width(3)))
                .map_err(&err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_is_one_svg_with_its_legend() {
        let s = vec![Series {
            name: "alpha <&>".into(),
            points: vec![(0.0, 1.0), (1.0, 3.0)],
        }];
        let svg = line_chart(
            LineChart {
                title: "t",
                x_desc: "x",
                y_desc: "y",
                steps: true,
                legend: SeriesLabelPosition::UpperLeft,
            },
            &s,
        )
        .expect("plot");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains("alpha &lt;&amp;&gt;"), "legend text escaped");
        assert_eq!(
            line_chart(
                LineChart {
                    title: "e",
                    x_desc: "",
                    y_desc: "",
                    steps: false,
                    legend: SeriesLabelPosition::UpperLeft
                },
                &[]
            ),
            Err(PlotError::Empty("e".into()))
        );
    }

    #[test]
    fn bars_and_timelines_draw() {
        let b = bar_chart(
            "b",
            "Mpps",
            &[("XDP".into(), 5.7), ("iptables".into(), 2.0)],
        )
        .expect("bars");
        assert!(b.contains("XDP") && b.contains("5.70"));
        let t = state_timeline(
            "s",
            "ms",
            &["closed", "half_open", "open"],
            &[("b".into(), vec![(0.0, 0), (10.0, 2), (20.0, 1), (25.0, 0)])],
        )
        .expect("timeline");
        assert!(t.contains("half_open"));
    }
}
