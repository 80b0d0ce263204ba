//! The figures of `examples/surfaces.rs` (included by `#[path]` there and in
//! `tests/surfaces.rs`): per surface, a contour plot with every optimizer's path and a
//! plot of the loss against the step, each to SVG and PNG with `plotters`.
//!
//! Text needs a TrueType font, read at run time (no system font libraries): the file in
//! `DOWNHILL_FONT`, else DejaVu Sans or Liberation Sans where Debian, Fedora or Arch
//! install them (`apt-get install fonts-dejavu-core`), else Arial on macOS or Windows.
//! Without one (or with `DOWNHILL_FONT=none`) the figures are drawn without any text.

#![allow(dead_code)] // each includer uses what it needs

#[path = "surface_runs.rs"]
pub mod surface_runs;

use downhill::surfaces::Surface;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
pub use surface_runs::{Run, TOLERANCE};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The font file registered for text (once per process), `None` when figures go
/// without text.
pub fn font() -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        let asked = std::env::var_os("DOWNHILL_FONT").map(PathBuf::from);
        if asked.as_deref() == Some(Path::new("none")) {
            return None;
        }
        let candidates = asked
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Some(path);
            }
        }
        None
    })
    .as_deref()
}

/// Matplotlib's `tab10`: one colour per optimizer.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

const WIDTH: u32 = 900;
const LEGEND: u32 = 190;
const GRID: usize = 90;
const LEVELS: usize = 16;
const MAX_POINTS: usize = 400;

/// Writes `<name>_paths.{svg,png}` and `<name>_loss.{svg,png}` into `dir` (created if
/// needed) and returns their paths.
pub fn write_figures(
    dir: &Path,
    surface: &dyn Surface,
    runs: &[Run],
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let text = font().is_some();
    let b = surface.bounds();
    let aspect = (b.y.1 - b.y.0) / (b.x.1 - b.x.0);
    let plot_w = WIDTH - LEGEND;
    let height = ((plot_w as f64 * aspect) as u32).clamp(420, 800);
    let mut written = Vec::new();
    let name = surface.name();
    let paths_svg = dir.join(format!("{name}_paths.svg"));
    let area = SVGBackend::new(&paths_svg, (WIDTH, height)).into_drawing_area();
    draw_paths(&area, surface, runs, text)?;
    area.present()?;
    drop(area);
    written.push(paths_svg);
    let paths_png = dir.join(format!("{name}_paths.png"));
    let area = BitMapBackend::new(&paths_png, (WIDTH, height)).into_drawing_area();
    draw_paths(&area, surface, runs, text)?;
    area.present()?;
    drop(area);
    written.push(paths_png);
    let loss_svg = dir.join(format!("{name}_loss.svg"));
    let area = SVGBackend::new(&loss_svg, (WIDTH, 500)).into_drawing_area();
    draw_losses(&area, surface, runs, text)?;
    area.present()?;
    drop(area);
    written.push(loss_svg);
    let loss_png = dir.join(format!("{name}_loss.png"));
    let area = BitMapBackend::new(&loss_png, (WIDTH, 500)).into_drawing_area();
    draw_losses(&area, surface, runs, text)?;
    area.present()?;
    drop(area);
    written.push(loss_png);
    Ok(written)
}

/// What the contours are drawn of: `ln(1 + f − f_min)`, or `f` without a minimum.
fn contour_value(surface: &dyn Surface, x: f64, y: f64) -> f64 {
    match surface.gap(x, y) {
        Some(g) => g.max(0.0).ln_1p(),
        None => surface.value(x, y),
    }
}

/// Contour segments by marching squares on a `GRID`² grid, at `LEVELS` quantiles of the
/// grid's values (squared spacing): `(level index, segment)`.
fn contours(surface: &dyn Surface) -> Vec<(usize, [(f64, f64); 2])> {
    let b = surface.bounds();
    let at = |i: usize, j: usize| {
        let x = b.x.0 + (b.x.1 - b.x.0) * i as f64 / (GRID - 1) as f64;
        let y = b.y.0 + (b.y.1 - b.y.0) * j as f64 / (GRID - 1) as f64;
        (x, y)
    };
    let z: Vec<f64> = (0..GRID * GRID)
        .map(|k| {
            let (x, y) = at(k % GRID, k / GRID);
            contour_value(surface, x, y)
        })
        .collect();
    let mut sorted: Vec<f64> = z.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return Vec::new();
    }
    let levels: Vec<f64> = (1..=LEVELS)
        .map(|l| {
            // Squared spacing: more levels near the minimum, where the paths end.
            let q = (l as f64 / (LEVELS + 1) as f64).powi(2);
            sorted[((sorted.len() - 1) as f64 * q) as usize]
        })
        .collect();
    let mut segments = Vec::new();
    for j in 0..GRID - 1 {
        for i in 0..GRID - 1 {
            let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            for (l, &level) in levels.iter().enumerate() {
                let mut crossings = Vec::with_capacity(4);
                for e in 0..4 {
                    let (a, c) = (corners[e], corners[(e + 1) % 4]);
                    let (za, zc) = (z[a.1 * GRID + a.0], z[c.1 * GRID + c.0]);
                    if (za < level) != (zc < level) {
                        let t = (level - za) / (zc - za);
                        let (pa, pc) = (at(a.0, a.1), at(c.0, c.1));
                        crossings.push((pa.0 + t * (pc.0 - pa.0), pa.1 + t * (pc.1 - pa.1)));
                    }
                }
                for pair in crossings.chunks_exact(2) {
                    segments.push((l, [pair[0], pair[1]]));
                }
            }
        }
    }
    segments
}

/// The run's path up to where it first leaves the plotted region, at most
/// `MAX_POINTS` points (evenly thinned, the last kept); and whether it was cut.
fn visible_path(surface: &dyn Surface, run: &Run) -> (Vec<(f64, f64)>, bool) {
    let b = surface.bounds();
    let inside = run
        .path
        .iter()
        .position(|&(x, y)| !b.contains(x, y))
        .unwrap_or(run.path.len());
    let cut = inside < run.path.len();
    let path = &run.path[..inside];
    let stride = path.len().div_ceil(MAX_POINTS).max(1);
    let mut thinned: Vec<(f64, f64)> = path.iter().copied().step_by(stride).collect();
    if let Some(&last) = path.last() {
        if thinned.last() != Some(&last) {
            thinned.push(last);
        }
    }
    (thinned, cut)
}

fn draw_paths<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    surface: &dyn Surface,
    runs: &[Run],
    text: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
    let b = surface.bounds();
    let mut builder = ChartBuilder::on(&plot);
    builder.margin(12);
    if text {
        builder
            .caption(
                format!("{}: paths from {:?}", surface.name(), surface.start()),
                ("sans-serif", 20),
            )
            .x_label_area_size(30)
            .y_label_area_size(40);
    }
    let mut chart = builder.build_cartesian_2d(b.x.0..b.x.1, b.y.0..b.y.1)?;
    if text {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("x")
            .y_desc("y")
            .draw()?;
    } else {
        chart.plotting_area().draw(&Rectangle::new(
            [(b.x.0, b.y.0), (b.x.1, b.y.1)],
            BLACK.stroke_width(1),
        ))?;
    }
    for (l, seg) in contours(surface) {
        let shade = 1.0 - 0.75 * (l as f64 + 1.0) / LEVELS as f64;
        let c = RGBColor(
            (120.0 + 120.0 * shade) as u8,
            (140.0 + 100.0 * shade) as u8,
            (200.0 + 50.0 * shade) as u8,
        );
        chart.draw_series(std::iter::once(PathElement::new(
            seg.to_vec(),
            c.stroke_width(1),
        )))?;
    }
    for (i, run) in runs.iter().enumerate() {
        let (path, cut) = visible_path(surface, run);
        let style = colour(i).stroke_width(2);
        chart.draw_series(std::iter::once(PathElement::new(path.clone(), style)))?;
        if let Some(&end) = path.last() {
            if cut {
                chart.draw_series(std::iter::once(Cross::new(
                    end,
                    6,
                    colour(i).stroke_width(2),
                )))?;
            } else {
                chart.draw_series(std::iter::once(Circle::new(end, 4, colour(i).filled())))?;
            }
        }
    }
    for &m in surface.minima() {
        chart.draw_series(std::iter::once(TriangleMarker::new(m, 7, BLACK.filled())))?;
    }
    chart.draw_series(std::iter::once(Circle::new(
        surface.start(),
        6,
        BLACK.stroke_width(2),
    )))?;
    draw_legend(&legend, runs, true, text)?;
    Ok(())
}

/// The optimizers' colours (and with `marks` the markers' meaning) in a strip of its own.
fn draw_legend<DB: DrawingBackend>(
    legend: &DrawingArea<DB, Shift>,
    runs: &[Run],
    marks: bool,
    text: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    legend.fill(&WHITE)?;
    if !text {
        return Ok(());
    }
    let entries = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.optimizer.to_string(), colour(i)));
    let markers = [
        ("start: ○".to_string(), BLACK),
        ("minimum: ▲".to_string(), BLACK),
        ("end: ●, left plot: ×".to_string(), BLACK),
    ];
    let markers = markers.into_iter().take(if marks { 3 } else { 0 });
    for (k, (label, c)) in entries.chain(markers).enumerate() {
        let y = 40 + 24 * k as i32;
        if k < runs.len() {
            legend.draw(&PathElement::new(vec![(8, y), (36, y)], c.stroke_width(3)))?;
        }
        legend.draw(&Text::new(
            label,
            (44, y - 8),
            ("sans-serif", 15).into_font(),
        ))?;
    }
    Ok(())
}

fn draw_losses<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    surface: &dyn Surface,
    runs: &[Run],
    text: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (root, legend) = root.split_horizontally(WIDTH - LEGEND);
    draw_legend(&legend, runs, false, text)?;
    let saddle = surface.min_value().is_none();
    // Loss above the minimum (floored so the log scale has it), or on the saddle the
    // distance from the origin, which grows as a run escapes.
    let series = |r: &Run| -> Vec<(f64, f64)> {
        r.path
            .iter()
            .enumerate()
            .map(|(step, &(x, y))| {
                let v = match surface.gap(x, y) {
                    Some(g) => g.max(1e-12),
                    None => x.hypot(y).max(1e-12),
                };
                (step as f64, v)
            })
            .collect()
    };
    let all: Vec<Vec<(f64, f64)>> = runs.iter().map(series).collect();
    let steps = all.iter().map(|s| s.len()).max().unwrap_or(1).max(2) as f64 - 1.0;
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for &(_, v) in all.iter().flatten() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !(lo.is_finite() && hi > lo) {
        (lo, hi) = (1e-12, 1.0);
    }
    // A run that shoots off (L-BFGS's first step on the saddle) would squash the rest.
    let cap = match surface.escape_radius() {
        Some(r) => 10.0 * r,
        None => {
            100.0
                * all
                    .iter()
                    .filter_map(|s| s.first())
                    .map(|p| p.1)
                    .fold(1e-12, f64::max)
        }
    };
    let (lo, hi) = (lo * 0.5, hi.min(cap) * 2.0);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(14);
    if text {
        let what = if saddle {
            "distance from the origin"
        } else {
            "loss − minimum"
        };
        builder
            .caption(
                format!("{}: {what} per step", surface.name()),
                ("sans-serif", 20),
            )
            .x_label_area_size(32)
            .y_label_area_size(64);
    }
    let mut chart = builder.build_cartesian_2d(0.0..steps, (lo..hi).log_scale())?;
    if text {
        let what = if saddle {
            "‖(x, y)‖"
        } else {
            "f − f_min (floored at 1e-12)"
        };
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(what)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
    }
    let threshold = match surface.escape_radius() {
        Some(r) => r,
        None => TOLERANCE,
    };
    chart.draw_series(DashedLineSeries::new(
        vec![(0.0, threshold), (steps, threshold)],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    for (i, s) in all.iter().enumerate() {
        let stride = s.len().div_ceil(2 * MAX_POINTS).max(1);
        let points: Vec<(f64, f64)> = s
            .iter()
            .copied()
            .step_by(stride)
            .chain(s.last().copied())
            .map(|(step, v)| (step, v.min(hi / 1.25)))
            .collect();
        let c = colour(i);
        chart.draw_series(LineSeries::new(points, c.stroke_width(2)))?;
    }
    Ok(())
}
