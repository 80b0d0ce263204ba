//! `LbfgsState` in serde (JSON in checkpoints): every float through
//! [`JsonFloat`](crate::io::json_float::JsonFloat), so NaN and ±inf (a diverged run's `d`
//! or gradient) are written as strings and every number reads back the same (a NaN as
//! a NaN);
//! `line_search_fn` as PyTorch spells it (`null` or `"strong_wolfe"`).

use super::{Lbfgs, LbfgsState, LineSearch};
use crate::io::json_float::JsonFloat;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct WireConfig {
    lr: JsonFloat,
    max_iter: usize,
    max_eval: Option<usize>,
    tolerance_grad: JsonFloat,
    tolerance_change: JsonFloat,
    history_size: usize,
    line_search_fn: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    config: WireConfig,
    shapes: Vec<Vec<usize>>,
    func_evals: u64,
    n_iter: u64,
    d: Option<Vec<JsonFloat>>,
    t: Option<JsonFloat>,
    old_dirs: Vec<Vec<JsonFloat>>,
    old_stps: Vec<Vec<JsonFloat>>,
    ro: Vec<JsonFloat>,
    h_diag: JsonFloat,
    prev_flat_grad: Option<Vec<JsonFloat>>,
    prev_loss: Option<JsonFloat>,
}

fn out(v: &[f32]) -> Vec<JsonFloat> {
    v.iter().map(|&x| JsonFloat(x.into())).collect()
}

fn back(v: Vec<JsonFloat>) -> Vec<f32> {
    v.into_iter().map(|x| x.0 as f32).collect()
}

impl Serialize for LbfgsState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.config;
        Wire {
            config: WireConfig {
                lr: JsonFloat(c.lr),
                max_iter: c.max_iter,
                max_eval: c.max_eval,
                tolerance_grad: JsonFloat(c.tolerance_grad),
                tolerance_change: JsonFloat(c.tolerance_change),
                history_size: c.history_size,
                line_search_fn: match c.line_search_fn {
                    LineSearch::None => None,
                    LineSearch::StrongWolfe => Some("strong_wolfe".into()),
                },
            },
            shapes: self.shapes.clone(),
            func_evals: self.func_evals,
            n_iter: self.n_iter,
            d: self.d.as_deref().map(out),
            t: self.t.map(JsonFloat),
            old_dirs: self.old_dirs.iter().map(|v| out(v)).collect(),
            old_stps: self.old_stps.iter().map(|v| out(v)).collect(),
            ro: out(&self.ro),
            h_diag: JsonFloat(self.h_diag.into()),
            prev_flat_grad: self.prev_flat_grad.as_deref().map(out),
            prev_loss: self.prev_loss.map(JsonFloat),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LbfgsState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let line_search_fn = match w.config.line_search_fn.as_deref() {
            None => LineSearch::None,
            Some("strong_wolfe") => LineSearch::StrongWolfe,
            Some(other) => {
                return Err(de::Error::custom(format!(
                    "line_search_fn {other:?}: only 'strong_wolfe' is supported"
                )))
            }
        };
        Ok(LbfgsState {
            config: Lbfgs {
                lr: w.config.lr.0,
                max_iter: w.config.max_iter,
                max_eval: w.config.max_eval,
                tolerance_grad: w.config.tolerance_grad.0,
                tolerance_change: w.config.tolerance_change.0,
                history_size: w.config.history_size,
                line_search_fn,
            },
            shapes: w.shapes,
            func_evals: w.func_evals,
            n_iter: w.n_iter,
            d: w.d.map(back),
            t: w.t.map(|x| x.0),
            old_dirs: w.old_dirs.into_iter().map(back).collect(),
            old_stps: w.old_stps.into_iter().map(back).collect(),
            ro: back(w.ro),
            h_diag: w.h_diag.0 as f32,
            prev_flat_grad: w.prev_flat_grad.map(back),
            prev_loss: w.prev_loss.map(|x| x.0),
        })
    }
}
