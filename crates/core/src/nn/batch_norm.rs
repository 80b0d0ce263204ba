//! `BatchNorm1d` and `BatchNorm2d` (PyTorch's names and defaults): per-channel
//! normalisation with the batch's statistics in training mode, the running ones in
//! evaluation mode.

use super::{Layer, LayerSpec};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{BatchNormConfig, RunningStats, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

/// The settings both batch norms share, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
struct Settings {
    num_features: usize,
    eps: f32,
    momentum: Option<f32>,
    affine: bool,
    track_running_stats: bool,
}

impl Settings {
    fn new(num_features: usize) -> Self {
        Settings {
            num_features,
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

macro_rules! batch_norm_spec {
    ($name:ident, $input:literal, $ranks:expr) => {
        #[doc = concat!("PyTorch's `nn.", stringify!($name), "(num_features)` on inputs ", $input, ":")]
        /// `y = (x − mean) / sqrt(var + eps)·γ + β` per channel. Training mode normalises
        /// with the batch's mean and biased variance and updates the running statistics in
        /// place on the device (`running ← (1 − momentum)·running + momentum·batch`, the
        /// variance unbiased by `n / (n − 1)`, `num_batches_tracked += 1`); evaluation mode
        /// normalises with the running statistics. Defaults: `eps` 1e-5, `momentum` 0.1,
        /// `affine` (γ = 1, β = 0, trainable), `track_running_stats`. The buffers are
        /// `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` (an f32
        /// count). A training batch with one value per channel is an error, as in PyTorch.
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name(Settings);

        impl $name {
            /// A batch norm over `num_features` channels with PyTorch's defaults.
            pub fn new(num_features: usize) -> Self {
                $name(Settings::new(num_features))
            }
            /// Sets the value added to the variance (default 1e-5).
            pub fn eps(mut self, eps: f32) -> Self {
                self.0.eps = eps;
                self
            }
            /// Sets the running statistics' momentum (default `Some(0.1)`; `None` for a
            /// cumulative average, as PyTorch's `momentum=None`).
            pub fn momentum(mut self, momentum: Option<f32>) -> Self {
                self.0.momentum = momentum;
                self
            }
            /// Whether the layer has a trainable `γ`, `β` (default `true`).
            pub fn affine(mut self, affine: bool) -> Self {
                self.0.affine = affine;
                self
            }
            /// Whether the layer keeps running statistics (default `true`); without them it
            /// normalises with the batch's statistics in both modes.
            pub fn track_running_stats(mut self, track: bool) -> Self {
                self.0.track_running_stats = track;
                self
            }
        }

        impl LayerSpec for $name {
            fn in_features(&self) -> Option<usize> {
                Some(self.0.num_features)
            }
            fn out_features(&self) -> Option<usize> {
                Some(self.0.num_features)
            }
            fn build(&self, device: &Device, _seed: u64) -> Result<Box<dyn Layer>> {
                BatchNormLayer::build(stringify!($name), &$ranks, &self.0, device)
            }
        }
    };
}

batch_norm_spec!(BatchNorm1d, "`[N, F]` or `[N, C, L]`", [2, 3]);
batch_norm_spec!(BatchNorm2d, "`[N, C, H, W]`", [4]);

/// The running statistics of a built batch norm.
struct Running {
    /// `[C]`
    mean: Tensor,
    /// `[C]`
    var: Tensor,
    /// one element
    num_batches_tracked: Tensor,
}

/// A built batch norm.
struct BatchNormLayer {
    name: &'static str,
    ranks: &'static [usize],
    settings: Settings,
    /// `γ`, `β`: `[C]` each
    affine: Option<(Tensor, Tensor)>,
    running: Option<Running>,
    training: AtomicBool,
}

impl BatchNormLayer {
    fn build(
        name: &'static str,
        ranks: &'static [usize],
        settings: &Settings,
        device: &Device,
    ) -> Result<Box<dyn Layer>> {
        let c = settings.num_features;
        if c == 0 {
            return Err(Error::Config(format!(
                "{name}(0): num_features must be at least 1"
            )));
        }
        if !(settings.eps >= 0.0 && settings.eps.is_finite()) {
            return Err(Error::Config(format!(
                "{name}: eps = {} must be a finite number >= 0",
                settings.eps
            )));
        }
        if let Some(m) = settings.momentum.filter(|m| !(0.0..=1.0).contains(m)) {
            return Err(Error::Hyperparameter {
                name: "momentum",
                value: m,
                reason: "must lie in [0, 1]",
            });
        }
        let affine = if settings.affine {
            Some((
                Tensor::full(device, [c], 1.0)?.param(),
                Tensor::full(device, [c], 0.0)?.param(),
            ))
        } else {
            None
        };
        let running = if settings.track_running_stats {
            Some(Running {
                mean: Tensor::full(device, [c], 0.0)?,
                var: Tensor::full(device, [c], 1.0)?,
                num_batches_tracked: Tensor::full(device, [], 0.0)?,
            })
        } else {
            None
        };
        Ok(Box::new(BatchNormLayer {
            name,
            ranks,
            settings: settings.clone(),
            affine,
            running,
            training: AtomicBool::new(true),
        }))
    }
}

impl Layer for BatchNormLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.settings.num_features;
        if !self.ranks.contains(&x.rank()) || x.dims()[1] != c {
            let expected = match self.ranks {
                [2, 3] => format!("[N, {c}] or [N, {c}, L]"),
                _ => format!("[N, {c}, H, W]"),
            };
            return Err(Error::shape(
                self.name,
                format!("expected an input {expected}, got {}", x.shape()),
            ));
        }
        let training = self.training.load(Ordering::Relaxed);
        let running = self.running.as_ref().map(|r| RunningStats {
            mean: &r.mean,
            var: &r.var,
            num_batches_tracked: &r.num_batches_tracked,
        });
        let config = BatchNormConfig {
            // Without running statistics the batch's normalise in both modes (PyTorch).
            training: training || running.is_none(),
            momentum: self.settings.momentum,
            eps: self.settings.eps,
        };
        let (weight, bias) = match &self.affine {
            Some((w, b)) => (Some(w), Some(b)),
            None => (None, None),
        };
        x.batch_norm(running, weight, bias, config)
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.affine
            .iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect()
    }

    fn parameter_names(&self) -> Vec<String> {
        match self.affine {
            Some(_) => vec!["batch_norm.weight".into(), "batch_norm.bias".into()],
            None => Vec::new(),
        }
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        match &self.running {
            Some(r) => vec![
                ("running_mean".into(), r.mean.clone()),
                ("running_var".into(), r.var.clone()),
                ("num_batches_tracked".into(), r.num_batches_tracked.clone()),
            ],
            None => Vec::new(),
        }
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        let momentum = s.momentum.map_or("None".to_string(), |m| m.to_string());
        format!(
            "{}({}, eps={}, momentum={momentum}, affine={}, track_running_stats={})",
            self.name, s.num_features, s.eps, s.affine, s.track_running_stats
        )
    }
}
