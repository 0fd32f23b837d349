//! `memtrace plot FILE -o OUT.svg`: the capture's history as small charts
//! stacked vertically, iteration on the x axis: live SVs, bytes of the
//! logged C allocations, new leaks per iteration, and RSS when known.

use std::process::ExitCode;

use memtrace_analysis::plural;
use memtrace_format::Snapshot;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::captures::{self, load};
use crate::cli::Options;
use crate::failure::{say, Failure};
use crate::json::PlotJson;
use crate::output::{write_file, Out};
use crate::svg_note::{drawing, note};

const WIDTH: u32 = 960;
const TITLE_HEIGHT: u32 = 56;
const CHART_HEIGHT: u32 = 250;

pub fn run(file: &str, options: &Options) -> Result<ExitCode, Failure> {
    let capture = load(file)?;
    let output = options.output.as_deref().unwrap_or("-");
    let snapshots = &capture.capture.history;
    let subject = captures::describe(std::slice::from_ref(&capture));
    let svg = if snapshots.len() < 2 {
        let why = format!(
            "{file} has {} closed, a plot needs 2 or more",
            plural(snapshots.len() as u64, "iteration")
        );
        say(&format!("nothing to plot: {why}; {output} says so"));
        note(
            "Growth per iteration: nothing to plot",
            &[
                subject,
                why,
                "Each call to Devel::MemTrace::checkpoint() (or each return from the \
                 -iteration sub) closes an iteration."
                    .to_string(),
            ],
        )?
    } else {
        draw(snapshots, &format!("Growth per iteration: {subject}"))?
    };
    write_file(output, svg.as_bytes())?;
    if options.json {
        let mut out = Out::new();
        out.json(&PlotJson {
            output,
            history: snapshots,
        })?;
        out.finish()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How one chart draws its values.
#[derive(Clone, Copy, PartialEq)]
enum Look {
    Line,
    Bars,
}

/// One chart: its title, y-axis name, colour and (iteration, value) points.
struct Chart {
    title: String,
    y_desc: String,
    color: RGBColor,
    look: Look,
    /// Counts: only whole-number ticks are labelled.
    whole: bool,
    points: Vec<(u32, f64)>,
}

/// A byte unit that keeps the axis labels short for values up to `max`.
fn byte_unit(max: u64) -> (&'static str, f64) {
    if max < 10 * 1024 {
        ("bytes", 1.0)
    } else if max < 10 * 1024 * 1024 {
        ("KiB", 1024.0)
    } else if max < 10 * 1024 * 1024 * 1024 {
        ("MiB", 1024.0 * 1024.0)
    } else {
        ("GiB", 1024.0 * 1024.0 * 1024.0)
    }
}

fn charts(snapshots: &[Snapshot]) -> Vec<Chart> {
    let mut charts = vec![Chart {
        title: "Live SVs (from the SV arenas, at each checkpoint)".to_string(),
        y_desc: "SVs".to_string(),
        color: RGBColor(31, 119, 180),
        look: Look::Line,
        whole: true,
        points: snapshots
            .iter()
            .map(|s| (s.iteration, s.svs as f64))
            .collect(),
    }];
    let max_bytes = snapshots.iter().map(|s| s.mem_bytes).max().unwrap_or(0);
    let (unit, scale) = byte_unit(max_bytes);
    charts.push(Chart {
        title: format!("Live logged C allocations (Newx/Renew), {unit}"),
        y_desc: unit.to_string(),
        color: RGBColor(255, 127, 14),
        look: Look::Line,
        whole: unit == "bytes",
        points: snapshots
            .iter()
            .map(|s| (s.iteration, s.mem_bytes as f64 / scale))
            .collect(),
    });
    charts.push(Chart {
        title: "New leaks per iteration (allocations that became leaks at its checkpoint)"
            .to_string(),
        y_desc: "leaks".to_string(),
        color: RGBColor(214, 39, 40),
        look: Look::Bars,
        whole: true,
        points: snapshots
            .iter()
            .map(|s| (s.iteration, s.new_leaks as f64))
            .collect(),
    });
    if snapshots.iter().any(|s| s.rss > 0) {
        let max_rss = snapshots.iter().map(|s| s.rss).max().unwrap_or(0);
        let (unit, scale) = byte_unit(max_rss);
        charts.push(Chart {
            title: format!("Resident set size of the process, {unit}"),
            y_desc: unit.to_string(),
            color: RGBColor(44, 160, 44),
            look: Look::Line,
            whole: unit == "bytes",
            points: snapshots
                .iter()
                .filter(|s| s.rss > 0)
                .map(|s| (s.iteration, s.rss as f64 / scale))
                .collect(),
        });
    }
    charts
}

/// The y range to draw `values` in: from 0 for bars; for lines, around the
/// values (a few SVs of growth on thousands must show), with some air.
fn y_range(values: &[f64], look: Look) -> (f64, f64) {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    if look == Look::Bars || min == max && min == 0.0 {
        return (0.0, if max > 0.0 { max * 1.15 } else { 1.0 });
    }
    let span = max - min;
    let pad = if span > 0.0 {
        span * 0.12
    } else {
        max.abs().max(1.0) * 0.05
    };
    ((min - pad).max(0.0), max + pad)
}

/// Tick labels: thousands separated, decimals only where the span needs them.
fn tick_text(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), format!(".{f}")),
        None => (text.clone(), String::new()),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}{frac}")
}

fn draw(snapshots: &[Snapshot], title: &str) -> Result<String, Failure> {
    let charts = charts(snapshots);
    // Oldest first, but a hand-made capture need not be: take the bounds.
    let first = snapshots.iter().map(|s| s.iteration).min().unwrap_or(0);
    let last = snapshots.iter().map(|s| s.iteration).max().unwrap_or(0);
    let height = TITLE_HEIGHT + CHART_HEIGHT * charts.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (top, body) = root.split_vertically(TITLE_HEIGHT);
        top.draw(&Text::new(
            title.to_string(),
            (20, 16),
            ("sans-serif", 20).into_font().style(FontStyle::Bold),
        ))
        .map_err(drawing)?;
        let areas = body.split_evenly((charts.len(), 1));
        for (chart, area) in charts.iter().zip(areas) {
            draw_chart(&area, chart, first, last)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    first: u32,
    last: u32,
) -> Result<(), Failure> {
    let values: Vec<f64> = chart.points.iter().map(|p| p.1).collect();
    let (y_low, y_high) = y_range(&values, chart.look);
    let span = y_high - y_low;
    // Ticks fall on 1, 2 or 5 times a power of ten, about 6 to a chart:
    // enough decimals to tell them apart, no more.
    let decimals = if chart.whole || span <= 0.0 {
        0
    } else {
        (-(span / 6.0).log10()).ceil().clamp(0.0, 6.0) as usize
    };
    let iterations = (last - first + 1) as usize;
    let mut context = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 16))
        .margin_left(12)
        .margin_right(24)
        .margin_top(6)
        .margin_bottom(6)
        .x_label_area_size(42)
        .y_label_area_size(84)
        .build_cartesian_2d((first..last).into_segmented(), y_low..y_high)
        .map_err(drawing)?;
    context
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_labels(iterations.min(24))
        .y_labels(6)
        .x_desc("iteration")
        .y_desc(chart.y_desc.as_str())
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => i.to_string(),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| {
            if chart.whole && (v - v.round()).abs() > 1e-9 {
                String::new()
            } else {
                tick_text(*v, decimals)
            }
        })
        .draw()
        .map_err(drawing)?;
    match chart.look {
        Look::Bars => {
            context
                .draw_series(
                    Histogram::vertical(&context)
                        .style(chart.color.mix(0.8).filled())
                        .margin(bar_margin(iterations))
                        .data(chart.points.iter().copied()),
                )
                .map_err(drawing)?;
        }
        Look::Line => {
            let points = chart
                .points
                .iter()
                .map(|&(i, v)| (SegmentValue::CenterOf(i), v));
            context
                .draw_series(LineSeries::new(points.clone(), chart.color.stroke_width(2)))
                .map_err(drawing)?;
            if iterations <= 60 {
                context
                    .draw_series(points.map(|p| Circle::new(p, 3, chart.color.filled())))
                    .map_err(drawing)?;
            }
        }
    }
    Ok(())
}

/// Space on each side of a bar: a fifth of its slot, none once slots are
/// only a few pixels wide (gaps would then alias into stripes).
fn bar_margin(iterations: usize) -> u32 {
    let slot = (WIDTH - 84 - 36) as usize / iterations.max(1);
    if slot < 6 {
        0
    } else {
        (slot / 5) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_well() {
        assert_eq!(tick_text(5015.0, 0), "5,015");
        assert_eq!(tick_text(183963.4, 0), "183,963");
        assert_eq!(tick_text(1.25, 2), "1.25");
        assert_eq!(tick_text(-1234.0, 0), "-1,234");
        assert_eq!(byte_unit(175_245), ("KiB", 1024.0));
    }

    #[test]
    fn flat_lines_get_air_and_bars_start_at_zero() {
        assert_eq!(y_range(&[0.0, 0.0], Look::Line), (0.0, 1.0));
        let (low, high) = y_range(&[5000.0, 5000.0], Look::Line);
        assert!(low < 5000.0 && high > 5000.0);
        assert_eq!(y_range(&[0.0, 10.0], Look::Bars).0, 0.0);
    }
}
