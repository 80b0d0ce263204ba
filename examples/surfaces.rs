//! Every optimizer from the same start on each 2-D test surface of `downhill::surfaces`
//! (Rosenbrock, Beale, Himmelblau, the saddle x² − y², an ill-conditioned quadratic and
//! the six-hump camel), on the CPU, for a bounded number of steps.
//!
//! Writes, per surface, a contour plot with every optimizer's path
//! (`<surface>_paths.svg` and `.png`) and the loss against the step on a log scale
//! (`<surface>_loss.svg` and `.png`) into the output directory, and prints a table: the
//! final loss, the steps to come within 1e-6 of the minimum, and on the saddle whether
//! (and when) the run escaped. The rates are in `examples/models/surface_runs.rs`.
//!
//! Run: `cargo run --release --example surfaces` (`--steps N`, default 2000; `--out DIR`,
//! default `target/surfaces`; `--surface NAME` for one surface).

#[path = "models/surface_plots.rs"]
mod surface_plots;

use std::path::PathBuf;
use surface_plots::surface_runs::{entries, run_all, table_header, table_rows};

const USAGE: &str = "usage: surfaces [--steps N] [--out DIR] [--surface NAME]";

fn main() -> anyhow::Result<()> {
    let mut steps = 2000usize;
    let mut out = PathBuf::from("target/surfaces");
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--steps", Some(n)) => steps = n.parse().map_err(|_| anyhow::anyhow!(USAGE))?,
            ("--out", Some(dir)) => out = PathBuf::from(dir),
            ("--surface", Some(name)) => only = Some(name),
            _ => anyhow::bail!(USAGE),
        }
    }
    anyhow::ensure!(steps > 0, "--steps must be at least 1");
    let surfaces = downhill::surfaces::all();
    if let Some(name) = &only {
        anyhow::ensure!(
            surfaces.iter().any(|s| s.name() == name),
            "no surface {name:?}; there are: {}",
            surfaces
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match surface_plots::font() {
        Some(path) => eprintln!("font: {}", path.display()),
        None => eprintln!(
            "no font found (set DOWNHILL_FONT=file.ttf or install fonts-dejavu-core): figures \
             without text"
        ),
    }
    let entries = entries();
    let mut table = table_header(steps);
    for (index, surface) in surfaces.iter().enumerate() {
        if only.as_deref().is_some_and(|n| n != surface.name()) {
            continue;
        }
        let runs = run_all(&entries, surface.as_ref(), index, steps, true)?;
        table += &table_rows(surface.as_ref(), &runs);
        for file in surface_plots::write_figures(&out, surface.as_ref(), &runs)? {
            eprintln!("wrote {}", file.display());
        }
    }
    print!("{table}");
    Ok(())
}
