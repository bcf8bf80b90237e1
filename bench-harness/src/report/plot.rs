//! The lateness percentile curves of all runtimes as one SVG chart, laid out like
//! HdrHistogram's plotter: percentiles on a log scale of `1/(1-p)`, so each decade to the
//! right is another nine (90%, 99%, 99.9%, ...).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

use hdrhistogram::Histogram;

use super::hgrm::percentile_steps;
use super::summary::{describe, thousands};
use super::table::show_lateness;
use super::{create, RunConfig, RuntimeResult, NS_PER_US};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = WIDTH - 28.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = HEIGHT - 64.0;

/// Distinct on white and for the common kinds of colour blindness (Okabe–Ito).
const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// The percentile axis always reaches 99.999%, and further when the data resolves it.
const MIN_DECADES: u32 = 5;
/// Past this the figures are noise of the float arithmetic, not percentiles.
const MAX_DECADES: u32 = 12;

/// When the slowest wake is more than this many decades above the lowest median, a linear
/// scale would squeeze the fastest runtime into the bottom tenth of the chart, so the y
/// axis goes logarithmic.
const LOG_Y_DECADES: f64 = 1.0;

/// Draws the lateness percentile curve of every result into one SVG file at `path`
/// (creating its directory if needed):
/// percentile on a log scale of `1/(1-p)` across, lateness in µs up (on a log scale when
/// the highest maximum is more than 10 times the lowest median), one coloured line per
/// runtime, a legend and a title naming the run.
pub fn write_plot(path: &Path, config: &RunConfig, results: &[RuntimeResult]) -> io::Result<()> {
    create(path)?.write_all(svg(config, results).as_bytes())
}

/// One runtime's curve as `(log10(1/(1-p)), lateness in µs)` points, the rows of its
/// `.hgrm` file.
fn curve(hist: &Histogram<u64>) -> Vec<(f64, f64)> {
    let count = hist.len() as f64;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for step in percentile_steps(hist) {
        let last_x = points.last().map_or(0.0, |p| p.0);
        // 100% has no finite place on this axis; the slowest wake is one in `count`.
        let x = if step.percentile < 100.0 {
            (100.0 / (100.0 - step.percentile)).log10()
        } else {
            count.log10().max(last_x)
        };
        points.push((x, step.value as f64 / NS_PER_US));
    }
    points
}

/// How lateness maps to height.
enum YScale {
    Linear { top: f64, step: f64 },
    Log { low_exp: i32, high_exp: i32 },
}

impl YScale {
    /// Fits every plotted value, judging the spread by `median` (the lowest median).
    fn fit(values: impl Iterator<Item = f64> + Clone, median: f64) -> YScale {
        let max = values.clone().fold(0.0, f64::max);
        let min_positive = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        if median > 0.0 && (max / median).log10() > LOG_Y_DECADES {
            let low_exp = min_positive.log10().floor() as i32;
            let high_exp = (max.log10().ceil() as i32).max(low_exp + 1);
            return YScale::Log { low_exp, high_exp };
        }
        let step = nice_step(if max > 0.0 { max / 5.0 } else { 0.2 });
        YScale::Linear {
            top: (max / step).ceil().max(1.0) * step,
            step,
        }
    }

    /// Where `value` sits, from 0 at the bottom to 1 at the top.
    fn fraction(&self, value: f64) -> f64 {
        match *self {
            YScale::Linear { top, .. } => value / top,
            YScale::Log { low_exp, high_exp } => {
                let low = f64::from(low_exp);
                (value.max(10f64.powi(low_exp)).log10() - low) / (f64::from(high_exp) - low)
            }
        }
        .clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        match *self {
            YScale::Linear { top, step } => {
                let n = (top / step).round() as u32;
                (0..=n).map(|i| f64::from(i) * step).collect()
            }
            YScale::Log { low_exp, high_exp } => {
                (low_exp..=high_exp).map(|e| 10f64.powi(e)).collect()
            }
        }
    }

    /// Unlabelled lines at 2 and 5 times each power of ten, so a log scale can be read.
    fn minor_ticks(&self) -> Vec<f64> {
        match *self {
            YScale::Linear { .. } => Vec::new(),
            YScale::Log { low_exp, high_exp } => (low_exp..high_exp)
                .flat_map(|e| [2.0, 5.0].map(|m| m * 10f64.powi(e)))
                .collect(),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            YScale::Linear { .. } => "Lateness (µs)",
            YScale::Log { .. } => "Lateness (µs, log scale)",
        }
    }
}

/// The 1, 2 or 5 times a power of ten nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// `0%`, `90%`, `99%`, `99.9%`, ... for `1/(1-p) = 10^decade`.
fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        _ => format!("99.{}%", "9".repeat(decade as usize - 2)),
    }
}

/// Tick labels without float noise: `0.1`, `2.5`, `500`, `1,000,000`.
fn axis_number(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 1e-3 || v.abs() >= 1e15 {
        format!("{v:e}")
    } else if v >= 1_000.0 && v.fract() == 0.0 {
        thousands(v as u64)
    } else {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The inner corner of the plot where a legend of `size` hides the fewest points of the
/// curves; top left first, as curves climb to the right.
fn legend_corner(size: (f64, f64), curves: &[Vec<(f64, f64)>]) -> (f64, f64) {
    const INSET: f64 = 12.0;
    let (w, h) = size;
    let corners = [
        (LEFT + INSET, TOP + INSET),
        (RIGHT - INSET - w, BOTTOM - INSET - h),
        (RIGHT - INSET - w, TOP + INSET),
        (LEFT + INSET, BOTTOM - INSET - h),
    ];
    // Steep steps have their vertices far apart, so the segments are sampled in between.
    let samples: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| {
            let between = c.windows(2).flat_map(|pair| {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                (0..8).map(move |k| {
                    let t = f64::from(k) / 8.0;
                    (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
                })
            });
            between.chain(c.last().copied())
        })
        .collect();
    let hidden = |&(cx, cy): &(f64, f64)| {
        samples
            .iter()
            .filter(|&&(x, y)| (cx..=cx + w).contains(&x) && (cy..=cy + h).contains(&y))
            .count()
    };
    corners.into_iter().min_by_key(hidden).unwrap_or(corners[0])
}

/// Where data lands on the canvas.
struct Frame {
    /// Right end of the percentile axis, in decades of `1/(1-p)`.
    x_max: f64,
    y: YScale,
}

impl Frame {
    fn fit(results: &[RuntimeResult], curves: &[Vec<(f64, f64)>]) -> Frame {
        // The axis ends where the data does rather than at the next whole decade, which
        // could leave most of a decade empty.
        let x_max = curves
            .iter()
            .flatten()
            .map(|p| p.0)
            .fold(0.0, f64::max)
            .clamp(f64::from(MIN_DECADES), f64::from(MAX_DECADES));
        let lowest_median = results
            .iter()
            .filter(|r| !r.lateness.is_empty())
            .map(|r| r.lateness.value_at_quantile(0.5) as f64 / NS_PER_US)
            .fold(f64::INFINITY, f64::min);
        let y = YScale::fit(curves.iter().flatten().map(|p| p.1), lowest_median);
        Frame { x_max, y }
    }

    /// Whole decades on the percentile axis.
    fn decades(&self) -> u32 {
        // The epsilon keeps float noise just below a whole decade from dropping its tick.
        (self.x_max + 1e-9).floor() as u32
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + x.min(self.x_max) / self.x_max * (RIGHT - LEFT)
    }

    fn py(&self, lateness: f64) -> f64 {
        BOTTOM - self.y.fraction(lateness) * (BOTTOM - TOP)
    }
}

// Writing to a String cannot fail, so the `fmt::Result`s below are dropped.

fn svg(config: &RunConfig, results: &[RuntimeResult]) -> String {
    let curves: Vec<Vec<(f64, f64)>> = results.iter().map(|r| curve(&r.lateness)).collect();
    let frame = Frame::fit(results, &curves);
    let pixels: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|c| c.iter().map(|&(x, v)| (frame.px(x), frame.py(v))).collect())
        .collect();

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="17" font-weight="bold">Timer wake-up lateness by percentile</text>"#,
        WIDTH / 2.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="48" text-anchor="middle" font-size="13" fill="#444">{}</text>"##,
        WIDTH / 2.0,
        escape(&describe(config))
    );
    write_axes(&mut s, &frame);
    for (i, points) in pixels.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut coords = String::new();
        for &(x, y) in points {
            if !coords.is_empty() {
                coords.push(' ');
            }
            let _ = write!(coords, "{x:.1},{y:.1}");
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round" points="{coords}"/>"#
        );
    }
    write_legend(&mut s, results, &pixels);
    s.push_str("</svg>\n");
    s
}

/// Grid, frame, tick labels and axis titles.
fn write_axes(s: &mut String, frame: &Frame) {
    let decades = frame.decades();
    let horizontal = |s: &mut String, lateness: f64| {
        let y = frame.py(lateness);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{RIGHT}" y2="{y:.1}"/>"#
        );
    };
    let _ = writeln!(s, r##"<g stroke="#f0f0f0" stroke-width="1">"##);
    for t in frame.y.minor_ticks() {
        horizontal(s, t);
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(s, r##"<g stroke="#ddd" stroke-width="1">"##);
    for d in 0..=decades {
        let x = frame.px(f64::from(d));
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{BOTTOM}"/>"#
        );
    }
    for t in frame.y.ticks() {
        horizontal(s, t);
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        RIGHT - LEFT,
        BOTTOM - TOP
    );

    let _ = writeln!(s, r##"<g fill="#333" text-anchor="middle">"##);
    for d in 0..=decades {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            frame.px(f64::from(d)),
            BOTTOM + 18.0,
            percentile_label(d)
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(s, r##"<g fill="#333" text-anchor="end">"##);
    for t in frame.y.ticks() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}">{}</text>"#,
            LEFT - 6.0,
            frame.py(t) + 4.0,
            axis_number(t)
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">Percentile</text>"#,
        (LEFT + RIGHT) / 2.0,
        HEIGHT - 22.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(22 {}) rotate(-90)" text-anchor="middle" font-size="13">{}</text>"#,
        (TOP + BOTTOM) / 2.0,
        frame.y.label()
    );
}

/// A box naming each runtime by its colour, with its p99 and max, in the emptiest corner.
fn write_legend(s: &mut String, results: &[RuntimeResult], pixels: &[Vec<(f64, f64)>]) {
    let entries: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "p99 {} µs, max {} µs",
                show_lateness(r.lateness.value_at_quantile(0.99) as f64 / NS_PER_US),
                show_lateness(r.lateness.max() as f64 / NS_PER_US)
            )
        })
        .collect();
    let longest = results
        .iter()
        .zip(&entries)
        .map(|(r, e)| r.name.chars().count() + e.chars().count())
        .max()
        .unwrap_or(0);
    // About 7 px a character at this font size, plus the colour swatch.
    let size = (
        60.0 + 7.0 * longest as f64,
        10.0 + 20.0 * results.len() as f64,
    );
    let (x, y) = legend_corner(size, pixels);
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="{}" height="{}" fill="white" fill-opacity="0.85" stroke="#bbb"/>"##,
        size.0, size.1
    );
    for (i, (r, entry)) in results.iter().zip(&entries).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let row = y + 18.0 + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="3"/>"#,
            x + 10.0,
            row - 4.0,
            x + 36.0,
            row - 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{row}"><tspan font-weight="bold">{}</tspan><tspan dx="10">{entry}</tspan></text>"#,
            x + 44.0,
            escape(&r.name),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, result, scratch_dir, three};
    use super::*;

    /// Checks that every element opened is closed in order, and returns the element names.
    fn elements(svg: &str) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "broken tag {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
                names.push(name.to_string());
                if !tag.ends_with('/') {
                    open.push(name.to_string());
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "left open: {open:?}");
        names
    }

    fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline")
            .skip(1)
            .map(|rest| {
                let start = rest.find("points=\"").unwrap() + "points=\"".len();
                let end = rest[start..].find('"').unwrap() + start;
                rest[start..end]
                    .split_whitespace()
                    .map(|pair| {
                        let (x, y) = pair.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_polyline_per_runtime_in_a_well_formed_svg() {
        let svg = svg(&config("spread"), &three());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        let names = elements(&svg);
        assert_eq!(names.iter().filter(|n| *n == "svg").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 3);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");

        for name in ["ringtide", "tokio", "floor"] {
            assert!(
                svg.contains(&format!(">{name}</tspan>")),
                "{name} not in legend"
            );
        }
        for part in ["mode spread", "1,000 tasks", "4 workers"] {
            assert!(svg.contains(part), "title lacks {part}");
        }
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"] {
            assert!(svg.contains(&format!(">{label}</text>")), "no tick {label}");
        }
        assert!(
            !svg.contains(">99.9999%<"),
            "1,000 wakes do not resolve 99.9999%"
        );
        assert!(svg.contains(">Percentile<") && svg.contains(">Lateness (µs)<"));

        let lines = polylines(&svg);
        assert_eq!(lines.len(), 3);
        for line in &lines {
            assert!(line.len() > 30);
            assert_eq!(line[0].0, LEFT, "starts at 0%");
            for pair in line.windows(2) {
                assert!(pair[1].0 >= pair[0].0, "x fell: {pair:?}");
                assert!(pair[1].1 <= pair[0].1, "lateness fell: {pair:?}");
            }
            for &(x, y) in line {
                assert!((LEFT..=RIGHT).contains(&x) && (TOP..=BOTTOM).contains(&y));
            }
        }
        // tokio's lateness is twice ringtide's, floor's half: at p50 the heights follow.
        let mid = |line: &[(f64, f64)]| {
            let x50 = LEFT + 0.301 / 5.0 * (RIGHT - LEFT);
            let p = line.iter().find(|p| p.0 >= x50 - 0.2).unwrap();
            BOTTOM - p.1
        };
        let (ringtide, tokio, floor) = (mid(&lines[0]), mid(&lines[1]), mid(&lines[2]));
        assert!(
            (tokio / ringtide - 2.0).abs() < 0.05,
            "{tokio} vs {ringtide}"
        );
        assert!(
            (floor / ringtide - 0.5).abs() < 0.05,
            "{floor} vs {ringtide}"
        );
    }

    #[test]
    fn wide_ranges_go_log_and_fine_data_extends_the_axis() {
        let mut fast = result("ringtide", 1_000);
        fast.lateness.reset();
        fast.lateness.record_n(2_000, 999_999).unwrap();
        fast.lateness.record(50_000_000).unwrap();
        let slow = result("tokio", 20_000);
        let svg = svg(&config("burst"), &[fast, slow]);
        elements(&svg);
        assert!(svg.contains("Lateness (µs, log scale)"));
        assert!(
            svg.contains(">99.9999%</text>"),
            "a million wakes resolve 99.9999%"
        );
        assert!(!svg.contains(">99.99999%</text>"));
        for tick in [
            ">1</text>",
            ">10</text>",
            ">1,000</text>",
            ">100,000</text>",
        ] {
            assert!(svg.contains(tick), "no y tick {tick}");
        }
        let lines = polylines(&svg);
        // The single 50 ms wake ends the line at the right edge, 4.7 of 5 decades up.
        let last = lines[0].last().unwrap();
        let height = BOTTOM - (50_000f64).log10() / 5.0 * (BOTTOM - TOP);
        assert!((last.0 - RIGHT).abs() < 0.1, "{last:?}");
        assert!((last.1 - height).abs() < 0.5, "{last:?} vs {height}");
    }

    #[test]
    fn empty_results_still_draw_a_chart() {
        let mut empty = result("ringtide", 1_000);
        empty.lateness.reset();
        for results in [Vec::new(), vec![empty]] {
            let svg = svg(&config("spread"), &results);
            let names = elements(&svg);
            assert_eq!(
                names.iter().filter(|n| *n == "polyline").count(),
                results.len()
            );
            assert!(!svg.contains("NaN") && !svg.contains("inf"));
        }
    }

    #[test]
    fn names_are_escaped_and_the_file_is_written() {
        let dir = scratch_dir("plot");
        let path = dir.join("nested").join("latency.svg");
        let results = [result("a<b&c", 10)];
        write_plot(&path, &config("spread"), &results).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains(">a&lt;b&amp;c</tspan>"));
        elements(&svg);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_legend_moves_off_the_curves() {
        let size = (200.0, 70.0);
        assert_eq!(legend_corner(size, &[]), (LEFT + 12.0, TOP + 12.0));
        // A flat line across the top, as a runtime whose every wake is its slowest draws.
        let flat_top = vec![(LEFT, TOP + 30.0), (RIGHT, TOP + 30.0)];
        assert_eq!(
            legend_corner(size, &[flat_top]),
            (RIGHT - 12.0 - 200.0, BOTTOM - 12.0 - 70.0)
        );
        // A steep step whose two vertices are outside every corner still counts.
        let step = vec![(LEFT, BOTTOM), (LEFT + 100.0, BOTTOM), (LEFT + 100.0, TOP)];
        let corner = legend_corner(size, &[step]);
        assert_ne!(corner, (LEFT + 12.0, TOP + 12.0));
        assert_ne!(corner, (LEFT + 12.0, BOTTOM - 12.0 - 70.0));
    }

    #[test]
    fn axis_helpers() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(2.0), 2.0);
        assert_eq!(nice_step(210.0), 500.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(4), "99.99%");
        assert_eq!(axis_number(0.0), "0");
        assert_eq!(axis_number(250.0), "250");
        assert_eq!(axis_number(0.1), "0.1");
        assert_eq!(axis_number(2.5), "2.5");
        assert_eq!(axis_number(1e4), "10,000");
        assert_eq!(axis_number(1e6), "1,000,000");
        assert_eq!(axis_number(1e-4), "1e-4");
    }
}
