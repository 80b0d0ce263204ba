//! Gradient health per layer and epoch, what `FitConfig::telemetry` records in the
//! [`History`](super::History): the figures that show vanishing and exploding gradients,
//! dead ReLUs, saturated sigmoids and a learning rate too high or too low.

use serde::{Deserialize, Serialize};

/// One layer's gradient health over one epoch.
///
/// The parameter figures (`grad_norm`, `weight_norm`, `update_ratio`) are `None` for a
/// layer without parameters; the activation figures are `None` where the layer has no
/// such activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHealth {
    /// The layer's index in the model (0-based, as `Sequential::summary` numbers them).
    pub index: usize,
    /// The layer as `Sequential::summary` describes it, e.g. `Dense(64 -> 10, relu)`.
    pub layer: String,
    /// The root mean square over the epoch's steps of the L2 norm of the layer's
    /// gradient (all its parameters together): `sqrt(mean_t ‖g_t‖²)`.
    #[serde(with = "crate::io::json_float::option")]
    pub grad_norm: Option<f32>,
    /// The L2 norm of the layer's parameters at the end of the epoch.
    #[serde(with = "crate::io::json_float::option")]
    pub weight_norm: Option<f32>,
    /// `‖Δw‖ / ‖w‖` of the epoch's first step (`w` before it): how far one update moves
    /// the layer's parameters relative to their size (the rule of thumb wants about 1e-3).
    /// The first step, not the last: a rate too high has done its damage by the end of an
    /// epoch (weights grown large make later ratios look small).
    #[serde(with = "crate::io::json_float::option")]
    pub update_ratio: Option<f32>,
    /// For a ReLU layer: the fraction of its units that output 0 for every row of every
    /// batch of the epoch (units that no longer learn).
    #[serde(with = "crate::io::json_float::option")]
    pub dead_fraction: Option<f32>,
    /// For a sigmoid or tanh layer: the fraction of its outputs in the flat tails, where
    /// the derivative is below [`SATURATION`] (1 %) of its maximum.
    #[serde(with = "crate::io::json_float::option")]
    pub saturated_fraction: Option<f32>,
}

/// Where an output counts as saturated: a sigmoid output `y` with `y(1-y) < 0.01 · ¼`,
/// i.e. outside about (0.0101, 0.9899); a tanh output with `1 - y² < 0.01`, i.e.
/// `|y| > 0.99499`. Both are "the derivative is below 1 % of its maximum".
pub const SATURATION: f32 = 0.01;

/// The gradient health of every observed layer over one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochHealth {
    /// The epoch (1-based, as `EpochRecord::epoch`).
    pub epoch: usize,
    /// One entry per layer with parameters or an observed activation, in model order.
    pub layers: Vec<LayerHealth>,
}

impl super::History {
    /// The recorded health as CSV, one row per epoch and layer:
    /// `epoch,index,layer,grad_norm,weight_norm,update_ratio,dead_fraction,saturated_fraction`
    /// (a figure the layer does not have is empty; the layer's description is quoted).
    pub fn health_to_csv(&self) -> String {
        let mut out = String::from(
            "epoch,index,layer,grad_norm,weight_norm,update_ratio,dead_fraction,saturated_fraction\n",
        );
        let figure = |v: Option<f32>| v.map_or(String::new(), |v| v.to_string());
        for epoch in &self.health {
            for l in &epoch.layers {
                let row = [
                    epoch.epoch.to_string(),
                    l.index.to_string(),
                    format!("\"{}\"", l.layer.replace('"', "\"\"")),
                    figure(l.grad_norm),
                    figure(l.weight_norm),
                    figure(l.update_ratio),
                    figure(l.dead_fraction),
                    figure(l.saturated_fraction),
                ];
                out += &(row.join(",") + "\n");
            }
        }
        out
    }

    /// Writes [`History::health_to_csv`] atomically (see [`crate::io::write_atomic`]).
    pub fn write_health_csv(&self, path: impl AsRef<std::path::Path>) -> crate::error::Result<()> {
        crate::io::write_atomic(path.as_ref(), self.health_to_csv().as_bytes())
    }
}
