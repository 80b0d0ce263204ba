//! Choosing the matmul kernel when a device opens: a short measurement of every variant
//! on a few representative products (bounded by [`BUDGET`]), cached on disk per adapter,
//! driver and downhill version (`autotune/cache.rs`), overridable from the environment:
//!
//! - `DOWNHILL_MATMUL=<name>` runs that variant ([`Variant::name`]: `tiled`, `register`,
//!   `register_4x16`); `auto` (or unset) measures;
//!   anything else is an [`Error::Config`] at open, listing the names.
//! - `DOWNHILL_AUTOTUNE=0` skips the measurement and the cache: the adapter-type default.
//! - `DOWNHILL_CACHE_DIR=<dir>` keeps the cache there instead of
//!   `$XDG_CACHE_HOME/downhill` or `$HOME/.cache/downhill`.
//!
//! Nothing here fails opening a device: an unreadable or corrupt cache means measuring, an
//! unwritable one means measuring again next time, and a measurement that fails falls back
//! to the adapter-type default. Only an unknown `DOWNHILL_MATMUL` is an error.

mod cache;

use crate::ops::matmul::{self, Epilogue, Variant};
use crate::recorder::Recorder;
use downhill_core::{Error, MatmulDims, Result, Storage};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Most time the measurement may take (uploads, every product and its wait). A product that
/// has started is finished, so on an adapter far slower than lavapipe it may run over by
/// one product; variants not measured on every shape by then are not candidates.
pub const BUDGET: Duration = Duration::from_millis(150);

/// The products measured, `(m, k, n)`: a square one and a skinny one (a mini-batch of 128
/// through a 256→512 layer), 2^25 flops each, all sizes multiples of 16 so every variant
/// runs its own kernel.
pub const SHAPES: [(usize, usize, usize); 2] = [(256, 256, 256), (128, 256, 512)];

/// Times each variant is measured per shape at most (the best time counts).
const REPS: usize = 3;

/// A variant more than this many times slower than the fastest on one shape is not measured
/// again.
const DROP_FACTOR: f64 = 2.0;

/// Bumped when the shapes, the scoring or the kernels change enough to measure again.
const REVISION: u32 = 1;

/// How to pick the matmul kernel when a device opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatmulSelect {
    /// As the environment says (see the module docs): what [`crate::GpuBackend::new`] does.
    FromEnv,
    /// This kernel, no measurement.
    Fixed(Variant),
    /// The kernel the adapter type suggests (tiled on GPUs, register on CPU adapters).
    Default,
    /// Read the cache in `cache_dir`, else measure for at most `budget` and write it there
    /// (`None`: measure and cache nothing); the environment is not consulted.
    Tune {
        /// The cache directory (see [`default_cache_dir`]).
        cache_dir: Option<PathBuf>,
        /// How long the measurement may take ([`BUDGET`] unless a caller, such as a test
        /// that must see every variant measured, says otherwise).
        budget: Duration,
    },
}

/// How the kernel in use was chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum ChosenBy {
    /// Measured when the device opened.
    Measured {
        /// Wall time of the whole measurement, in milliseconds.
        ms: f64,
        /// GFLOP/s of each variant that ran (flops over the sum of its best times, over
        /// the shapes it ran: one dropped early as too slow may have run only some).
        gflops: Vec<(Variant, f64)>,
        /// Where the choice was saved, or why it was not.
        saved: std::result::Result<PathBuf, String>,
    },
    /// Read from the cache file at this path.
    Cached(PathBuf),
    /// `DOWNHILL_MATMUL` named it.
    Env,
    /// The caller named it ([`MatmulSelect::Fixed`]).
    Caller,
    /// The adapter-type default, for this reason (e.g. `DOWNHILL_AUTOTUNE=0`).
    Default(String),
}

/// The kernel a device runs and how it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct MatmulChoice {
    /// The kernel.
    pub variant: Variant,
    /// How it was chosen.
    pub how: ChosenBy,
}

impl fmt::Display for MatmulChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.variant.name())?;
        match &self.how {
            ChosenBy::Measured { ms, gflops, saved } => {
                write!(f, "measured at open in {ms:.0} ms:")?;
                for (v, g) in gflops {
                    write!(f, " {} {g:.1}", v.name())?;
                }
                write!(f, " GFLOP/s")?;
                if let Err(why) = saved {
                    write!(f, "; not cached: {why}")?;
                }
            }
            ChosenBy::Cached(path) => write!(f, "cached in {}", path.display())?,
            ChosenBy::Env => write!(f, "DOWNHILL_MATMUL")?,
            ChosenBy::Caller => write!(f, "chosen by the caller")?,
            ChosenBy::Default(why) => write!(f, "adapter-type default: {why}")?,
        }
        write!(f, ")")
    }
}

/// The cache directory used when none is given: `DOWNHILL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/downhill`, else `$HOME/.cache/downhill` (`None` if none is set).
pub fn default_cache_dir() -> Option<PathBuf> {
    cache::default_dir()
}

/// The selection the environment asks for, from the values of `DOWNHILL_MATMUL` and
/// `DOWNHILL_AUTOTUNE` (passed in, so it can be tested without touching the environment).
/// An unknown kernel name is an [`Error::Config`] that lists the names.
pub fn select_from(matmul: Option<&str>, autotune: Option<&str>) -> Result<MatmulSelect> {
    let autotune_off = matches!(autotune.map(str::trim), Some("0" | "off" | "false" | "no"));
    match matmul.map(str::trim) {
        None | Some("") if autotune_off => Ok(MatmulSelect::Default),
        None | Some("") | Some("auto") => Ok(MatmulSelect::Tune {
            cache_dir: cache::default_dir(),
            budget: BUDGET,
        }),
        Some(name) => Variant::from_name(name)
            .map(MatmulSelect::Fixed)
            .ok_or_else(|| {
                let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
                Error::Config(format!(
                    "DOWNHILL_MATMUL={name:?} is not a matmul kernel; use one of {} or auto",
                    names.join(", ")
                ))
            }),
    }
}

/// Picks the kernel for the device behind `rec` as `select` says; never fails but for an
/// unknown `DOWNHILL_MATMUL` (with [`MatmulSelect::FromEnv`]).
pub fn choose(rec: &Recorder, dummy: &Storage, select: MatmulSelect) -> Result<MatmulChoice> {
    let fallback = Variant::default_for(rec.ctx.is_cpu());
    let select = match select {
        MatmulSelect::FromEnv => {
            let matmul = std::env::var("DOWNHILL_MATMUL").ok();
            let autotune = std::env::var("DOWNHILL_AUTOTUNE").ok();
            match select_from(matmul.as_deref(), autotune.as_deref())? {
                MatmulSelect::Fixed(variant) => {
                    return Ok(MatmulChoice {
                        variant,
                        how: ChosenBy::Env,
                    })
                }
                MatmulSelect::Default => {
                    return Ok(MatmulChoice {
                        variant: fallback,
                        how: ChosenBy::Default("DOWNHILL_AUTOTUNE=0".into()),
                    })
                }
                other => other,
            }
        }
        other => other,
    };
    match select {
        MatmulSelect::Fixed(variant) => Ok(MatmulChoice {
            variant,
            how: ChosenBy::Caller,
        }),
        MatmulSelect::Tune { cache_dir, budget } => {
            Ok(tune(rec, dummy, (cache_dir, budget), fallback))
        }
        _ => Ok(MatmulChoice {
            variant: fallback,
            how: ChosenBy::Default("asked for".into()),
        }),
    }
}

/// What the cache is keyed by: adapter, driver, downhill version and the candidates.
fn cache_key(rec: &Recorder) -> String {
    let i = &rec.ctx.info;
    let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
    format!(
        "adapter={};backend={:?};vendor={:#x};device={:#x};driver={};driver_info={};downhill={};tuner={REVISION};candidates={}",
        i.name,
        i.backend,
        i.vendor,
        i.device,
        i.driver,
        i.driver_info,
        env!("CARGO_PKG_VERSION"),
        names.join(",")
    )
}

/// The cached choice, else a measured one (saved to the cache), else `fallback`.
fn tune(
    rec: &Recorder,
    dummy: &Storage,
    (cache_dir, budget): (Option<PathBuf>, Duration),
    fallback: Variant,
) -> MatmulChoice {
    let key = cache_key(rec);
    if let Some(dir) = &cache_dir {
        if let Some(variant) = cache::lookup(dir, &key).and_then(|n| Variant::from_name(&n)) {
            return MatmulChoice {
                variant,
                how: ChosenBy::Cached(dir.join(cache::FILE)),
            };
        }
    }
    let started = Instant::now();
    let measured = measure(rec, dummy, fallback, (started, budget));
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let Trial {
        gflops,
        winner,
        complete,
    } = match measured {
        Ok(trial) => trial,
        Err(e) => {
            return MatmulChoice {
                variant: fallback,
                how: ChosenBy::Default(format!("measuring failed: {e}")),
            }
        }
    };
    let Some(variant) = winner else {
        return MatmulChoice {
            variant: fallback,
            how: ChosenBy::Default(format!("no variant measured within {budget:?}")),
        };
    };
    let saved = match (&cache_dir, complete) {
        (_, false) => Err(format!("not every variant was measured within {budget:?}")),
        (None, true) => Err("no cache directory (HOME unset)".into()),
        (Some(dir), true) => {
            cache::store(dir, &key, variant.name(), ms).map(|()| dir.join(cache::FILE))
        }
    };
    MatmulChoice {
        variant,
        how: ChosenBy::Measured { ms, gflops, saved },
    }
}

/// Inputs of one measured product: deterministic, finite, not all equal.
fn operand(rec: &Recorder, len: usize, seed: u32) -> Result<Storage> {
    let data: Vec<f32> = (0..len as u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 16) % 17) as f32 / 17.0 - 0.5
        })
        .collect();
    rec.upload(bytemuck::cast_slice(&data), len)
}

/// What [`measure`] found.
struct Trial {
    /// GFLOP/s of each variant that ran (over the shapes it ran).
    gflops: Vec<(Variant, f64)>,
    /// The fastest variant measured on every shape, if any.
    winner: Option<Variant>,
    /// Every variant was measured on every shape or dropped as too slow.
    complete: bool,
}

/// Times every variant on every shape, round after round until each has [`REPS`] runs or
/// the budget is spent: the fallback first (its first round always runs, so there is a
/// winner), then the others of its family (register or tiled), then the rest. A product
/// that could end past the budget (judged by [`DROP_FACTOR`] times the fastest time on its
/// shape so far) is not started. A variant more than [`DROP_FACTOR`] times slower than the
/// fastest on a shape in the first round is dropped at once (its figure
/// is that of the shapes it ran). Returns GFLOP/s of each variant that ran, the winner, and
/// whether every variant was measured on every shape or dropped (only then is the choice
/// worth caching).
fn measure(
    rec: &Recorder,
    dummy: &Storage,
    fallback: Variant,
    (started, budget): (Instant, Duration),
) -> Result<Trial> {
    let mut order = vec![fallback];
    let family = |v: Variant| v.is_register() == fallback.is_register();
    order.extend(
        Variant::ALL
            .into_iter()
            .filter(|&v| v != fallback && family(v)),
    );
    order.extend(Variant::ALL.into_iter().filter(|&v| !family(v)));
    let mut inputs = Vec::new();
    for (i, &(m, k, n)) in SHAPES.iter().enumerate() {
        let seed = 2 * i as u32;
        inputs.push((operand(rec, m * k, seed)?, operand(rec, k * n, seed + 1)?));
    }
    rec.wait()?;
    // best[v][s]: the best seconds of variant v on shape s so far.
    let mut best = vec![[f64::INFINITY; SHAPES.len()]; order.len()];
    let mut dropped = vec![false; order.len()];
    let done = |b: &[f64; SHAPES.len()]| b.iter().all(|t| t.is_finite());
    let spent = |b: &[f64; SHAPES.len()]| b.iter().filter(|t| t.is_finite()).sum::<f64>();
    'rounds: for round in 0..REPS {
        for vi in 0..order.len() {
            for (si, &(m, k, n)) in SHAPES.iter().enumerate() {
                if dropped[vi] {
                    break;
                }
                let fastest = best.iter().map(|b| b[si]).fold(f64::INFINITY, f64::min);
                // A product slower than this is dropped anyway: what one may cost.
                let expected = if fastest.is_finite() {
                    DROP_FACTOR * fastest
                } else {
                    0.0
                };
                // The fallback's first round always runs: there is always a winner.
                let baseline = round == 0 && vi == 0;
                if !baseline && started.elapsed().as_secs_f64() + expected >= budget.as_secs_f64() {
                    break 'rounds;
                }
                let dims = MatmulDims {
                    m,
                    k,
                    n,
                    trans_a: false,
                    trans_b: false,
                };
                let (a, b) = &inputs[si];
                let epilogue = Epilogue {
                    bias: None,
                    activation: None,
                };
                let t = Instant::now();
                let out = matmul::linear(rec, a, b, dims, epilogue, order[vi], dummy)?;
                rec.wait()?;
                best[vi][si] = best[vi][si].min(t.elapsed().as_secs_f64());
                drop(out);
                // Dropping compares first runs with first runs only (on lavapipe a first
                // dispatch at new sizes may include a compile), so only in the first round.
                if round == 0 {
                    let fastest = fastest.min(best[vi][si]);
                    for (d, b) in dropped.iter_mut().zip(&best) {
                        *d |= b[si].is_finite() && b[si] > DROP_FACTOR * fastest;
                    }
                }
            }
        }
    }
    let flops = |b: &[f64; SHAPES.len()]| -> f64 {
        SHAPES
            .iter()
            .zip(b)
            .filter(|(_, t)| t.is_finite())
            .map(|(&(m, k, n), _)| 2.0 * (m * k * n) as f64)
            .sum()
    };
    let complete = best.iter().zip(&dropped).all(|(b, &d)| d || done(b));
    // Dropped variants report the rate of the shapes they ran; they cannot win.
    let gflops = order
        .iter()
        .zip(&best)
        .filter(|(_, b)| spent(b) > 0.0)
        .map(|(&v, b)| (v, flops(b) / spent(b) / 1e9))
        .collect();
    let winner = order
        .iter()
        .zip(&best)
        .zip(&dropped)
        .filter(|((_, b), &d)| !d && done(b))
        .min_by(|((_, x), _), ((_, y), _)| spent(x).total_cmp(&spent(y)))
        .map(|((&v, _), _)| v);
    Ok(Trial {
        gflops,
        winner,
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_selects_by_name_auto_or_off() {
        assert_eq!(
            select_from(Some("tiled"), None).unwrap(),
            MatmulSelect::Fixed(Variant::Tiled)
        );
        assert_eq!(
            select_from(Some(" register_4x16 "), Some("0")).unwrap(),
            MatmulSelect::Fixed(Variant::Register4x16)
        );
        for v in Variant::ALL {
            assert_eq!(
                select_from(Some(v.name()), None).unwrap(),
                MatmulSelect::Fixed(v)
            );
        }
        assert_eq!(select_from(None, Some("0")).unwrap(), MatmulSelect::Default);
        assert_eq!(
            select_from(Some(""), Some("off")).unwrap(),
            MatmulSelect::Default
        );
        assert!(matches!(
            select_from(Some("auto"), Some("0")).unwrap(),
            MatmulSelect::Tune { .. }
        ));
        assert!(matches!(
            select_from(None, Some("1")).unwrap(),
            MatmulSelect::Tune { .. }
        ));
    }

    #[test]
    fn an_unknown_kernel_is_a_config_error_listing_the_names() {
        match select_from(Some("fastest"), None) {
            Err(Error::Config(msg)) => {
                for v in Variant::ALL {
                    assert!(msg.contains(v.name()), "{msg}");
                }
                assert!(msg.contains("fastest") && msg.contains("auto"), "{msg}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn the_choice_says_how_it_was_made() {
        let c = MatmulChoice {
            variant: Variant::Register4x16,
            how: ChosenBy::Measured {
                ms: 120.4,
                gflops: vec![(Variant::Register, 8.04), (Variant::Register4x16, 9.5)],
                saved: Err("read-only".into()),
            },
        };
        assert_eq!(
            c.to_string(),
            "register_4x16 (measured at open in 120 ms: register 8.0 register_4x16 9.5 GFLOP/s; \
             not cached: read-only)"
        );
        let c = MatmulChoice {
            variant: Variant::Tiled,
            how: ChosenBy::Env,
        };
        assert_eq!(c.to_string(), "tiled (DOWNHILL_MATMUL)");
    }
}
