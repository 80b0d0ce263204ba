//! What `fit` checks before it trains (and after): the optimizer, the data and metrics
//! against the model, and that every parameter is finite.

use crate::backend::AccuracyKind;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metric::functions::Average;
use crate::metric::Metric;
use crate::nn::Activation;
use crate::nn::Sequential;
use crate::optim::Optimizer;

impl Sequential {
    /// Fails if a parameter is NaN or infinite before training starts (a user-set value, or
    /// a model left broken by an earlier run): no step could recover from it, and a later
    /// divergence report would blame the wrong thing.
    pub(super) fn check_parameters_finite(&self, opt: &Optimizer) -> Result<()> {
        match self.first_non_finite_parameter(opt)? {
            None => Ok(()),
            Some((name, v)) => Err(Error::NonFinite(format!(
                "parameter {name} holds {v} before training (a value set by hand, or a \
                 model an earlier run left diverged): re-initialise it"
            ))),
        }
    }

    /// The first non-finite parameter value, named as `0.dense.weight[i] of Dense(..)`:
    /// one read-back of the optimizer's flat buffer.
    pub(super) fn first_non_finite_parameter(
        &self,
        opt: &Optimizer,
    ) -> Result<Option<(String, f32)>> {
        let set = opt.param_set();
        let flat = self.device().backend().download(set.flat())?;
        let named = self.layers()?.iter().enumerate().flat_map(|(li, layer)| {
            layer
                .parameter_names()
                .into_iter()
                .map(move |name| (format!("{li}.{name}"), layer.describe()))
        });
        for (seg, (name, layer)) in set.segments().iter().zip(named) {
            let values = flat.get(seg.offset..seg.offset + seg.len).unwrap_or(&[]);
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Ok(Some((format!("{name}[{i}] of {layer}"), *v)));
            }
        }
        Ok(None)
    }

    pub(super) fn check_optimizer(&self, opt: &Optimizer) -> Result<()> {
        let params = self.parameters()?;
        let same = opt.param_set().params().len() == params.len()
            && opt
                .param_set()
                .params()
                .iter()
                .zip(&params)
                .all(|(a, b)| a.id() == b.id());
        if same {
            opt.param_set().check_owned()
        } else {
            Err(Error::Config(
                "the optimizer was built for other parameters than this model's".into(),
            ))
        }
    }

    /// Checks that every metric can read the targets: categorical accuracy needs one class
    /// label per row, binary accuracy one target per output.
    pub(super) fn check_metrics(
        &self,
        data: &Dataset,
        loss: Loss,
        metrics: &[Metric],
    ) -> Result<()> {
        let Some(outputs) = self.out_features() else {
            return Ok(());
        };
        for metric in metrics {
            metric.plan(loss)?;
            if let Metric::Precision(a) | Metric::Recall(a) | Metric::F1(a) = metric {
                let classes = if metric.reads_labels(loss) {
                    outputs
                } else {
                    2
                };
                if *a == Average::Binary && classes != 2 {
                    return Err(Error::Config(format!(
                        "{} (Average::Binary) needs two classes, the model has {classes}: \
                         use Average::Macro or Average::Micro",
                        metric.name()
                    )));
                }
            }
            if let Metric::TopKAccuracy(k) = metric {
                if !metric.reads_labels(loss) || *k > outputs.max(1) {
                    return Err(Error::Config(format!(
                        "{} needs class labels and k <= {outputs} classes",
                        metric.name()
                    )));
                }
            }
            let reads = if metric.reads_labels(loss) {
                AccuracyKind::Categorical
            } else {
                AccuracyKind::Binary { threshold: 0.5 }
            };
            match reads {
                AccuracyKind::Categorical => data.check_labels(outputs)?,
                AccuracyKind::Binary { .. } if data.target_cols() != outputs => {
                    return Err(Error::shape(
                        "fit",
                        format!(
                            "{} compares each of the model's {outputs} outputs with a target, \
                             but the data has {} target columns",
                            metric.name(),
                            data.target_cols()
                        ),
                    ))
                }
                AccuracyKind::Binary { .. } => {}
            }
        }
        Ok(())
    }

    /// Checks a data set against the model's input size and the loss's target format.
    pub(super) fn check_data(&self, data: &Dataset, loss: Loss) -> Result<()> {
        self.check_loss_fits_output(loss)?;
        if let Some(features) = self.in_features() {
            if data.features() != features {
                return Err(Error::shape(
                    "fit",
                    format!(
                        "the data has {} features per row, the model's first layer expects {features}",
                        data.features()
                    ),
                ));
            }
        }
        let Some(outputs) = self.out_features() else {
            return Ok(());
        };
        if loss.takes_labels() {
            return data.check_labels(outputs);
        }
        if data.target_cols() != outputs {
            return Err(Error::shape(
                "fit",
                format!(
                    "the data has {} target columns, the model outputs {outputs}",
                    data.target_cols()
                ),
            ));
        }
        match loss {
            Loss::BinaryCrossEntropy | Loss::BinaryCrossEntropyWithLogits => {
                data.check_probabilities()
            }
            _ => Ok(()),
        }
    }

    /// Refuses a loss that takes logits after an output layer that already squashes them:
    /// softmax (or sigmoid) would be applied twice, silently (a loss of 1.47 where 0.0076
    /// is reachable).
    fn check_loss_fits_output(&self, loss: Loss) -> Result<()> {
        let Some(act) = self.output_activation() else {
            return Ok(());
        };
        let twice = match (loss, act) {
            (Loss::SparseCategoricalCrossEntropy, Activation::Softmax | Activation::LogSoftmax) => {
                Some("softmax")
            }
            (Loss::BinaryCrossEntropyWithLogits, Activation::Sigmoid) => Some("sigmoid"),
            _ => None,
        };
        match twice {
            None => Ok(()),
            Some(f) => Err(Error::Config(format!(
                "{} takes logits, but the model's last layer already applies {}: {f} would \
                 be applied twice. End the model with Activation::Linear (the loss applies \
                 {f} itself, stably; apply .{f}() to predict's outputs for probabilities){}",
                loss.name(),
                act.name(),
                if f == "sigmoid" {
                    ", or keep the sigmoid and use Loss::BinaryCrossEntropy"
                } else {
                    ""
                }
            ))),
        }
    }
}
