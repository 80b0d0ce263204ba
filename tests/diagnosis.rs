//! The telemetry's diagnoses (`downhill::train::diagnosis`): each on a network built to show
//! its failure, none on a healthy one, and each threshold on both of its sides.

mod common;

use downhill::data::digits;
use downhill::prelude::*;
use downhill::random::SeededRng;
use downhill::train::diagnosis::{self, diagnose, Symptom};
use downhill::{Diagnosis, EpochHealth, LayerHealth};
use ndarray::Array2;

fn fit(
    net: &mut Sequential,
    data: &Dataset,
    loss: Loss,
    opt: impl OptimizerConfig,
    epochs: usize,
) -> Vec<Diagnosis> {
    let config = FitConfig {
        epochs,
        batch_size: 64,
        verbose: 0,
        telemetry: true,
        ..Default::default()
    };
    net.fit(data, loss, opt, config).unwrap().diagnoses
}

fn symptoms(found: &[Diagnosis]) -> Vec<Symptom> {
    found.iter().map(|d| d.symptom).collect()
}

fn has(found: &[Diagnosis], symptom: Symptom) -> &Diagnosis {
    found
        .iter()
        .find(|d| d.symptom == symptom)
        .unwrap_or_else(|| panic!("no {symptom:?} in {found:#?}"))
}

fn digits_mlp(device: &Device, hidden: Activation) -> Sequential {
    Sequential::new(device)
        .seed(1)
        .dense(64, 64, hidden)
        .dense(64, 10, Activation::Linear)
}

#[test]
fn a_healthy_net_gets_no_diagnosis() {
    let data = digits().unwrap();
    for device in common::devices() {
        let mut net = digits_mlp(&device, Activation::Relu);
        let found = fit(
            &mut net,
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Adam::new(1e-3),
            3,
        );
        assert!(found.is_empty(), "{}: {found:#?}", device.name());
    }
}

#[test]
fn a_20_layer_sigmoid_net_has_vanishing_gradients() {
    let data = digits().unwrap();
    let mut net = Sequential::new(&common::cpu()).seed(7);
    for i in 0..20 {
        net = net.dense(if i == 0 { 64 } else { 32 }, 32, Activation::Sigmoid);
    }
    let mut net = net.dense(32, 10, Activation::Linear);
    let found = fit(
        &mut net,
        &data,
        Loss::SparseCategoricalCrossEntropy,
        Sgd::new(0.005),
        1,
    );
    let d = has(&found, Symptom::VanishingGradients);
    // The smallest ratio is between one of the first layers and one of the last.
    let layer = d.layer.unwrap();
    assert!(layer <= 2, "{d:?}");
    let start = format!("vanishing gradients: layer {layer}'s gradient norm is");
    assert!(d.message.starts_with(&start), "{d:?}");
}

#[test]
fn a_deep_linear_net_with_large_weights_has_exploding_gradients() {
    let mut rng = SeededRng::new(2);
    let x = Array2::from_shape_simple_fn((128, 16), || rng.normal());
    let y = Array2::from_shape_simple_fn((128, 1), || rng.normal());
    let data = Dataset::new(x, y).unwrap();
    // Each layer multiplies the activations by about 3 on the way forward and the
    // gradient by about 3 on the way back (uniform ±0.92 over 32 inputs has a gain of
    // ≈ 3): the weight gradients, products of the two, are ≈ 3^12 times the weights.
    let mut net = Sequential::new(&common::cpu()).seed(3);
    for i in 0..12 {
        let dense = Dense::new(if i == 0 { 16 } else { 32 }, 32).kernel_init(Init::Uniform(0.92));
        net = net.layer(dense);
    }
    let mut net = net.dense(32, 1, Activation::Linear);
    let found = fit(&mut net, &data, Loss::MeanSquaredError, Sgd::new(1e-16), 1);
    let d = has(&found, Symptom::ExplodingGradients);
    assert!(d.message.contains("× its weight norm"), "{d:?}");
    assert!(
        !symptoms(&found).contains(&Symptom::VanishingGradients),
        "{found:#?}"
    );
}

#[test]
fn relus_behind_a_large_negative_bias_are_dead() {
    let data = digits().unwrap();
    for device in common::devices() {
        let mut net = Sequential::new(&device)
            .seed(1)
            .layer(
                Dense::new(64, 64)
                    .activation(Activation::Relu)
                    .bias_init(Init::Constant(-200.0)),
            )
            .dense(64, 10, Activation::Linear);
        let found = fit(
            &mut net,
            &data,
            Loss::SparseCategoricalCrossEntropy,
            Sgd::new(0.01),
            1,
        );
        let d = has(&found, Symptom::DeadRelus);
        assert_eq!(d.layer, Some(0));
        assert!(
            d.message
                .starts_with("dead ReLUs: 100 % of layer 0's units"),
            "{d:?}"
        );
    }
}

#[test]
fn sigmoids_fed_unscaled_inputs_saturate() {
    // The digits' pixels are 0..16: ×50 puts nearly every pre-activation far in the tails.
    let data = digits().unwrap();
    let x = data.x() * 50.0;
    let data = Dataset::new(x, data.y().clone()).unwrap();
    let mut net = digits_mlp(&common::cpu(), Activation::Sigmoid);
    let found = fit(
        &mut net,
        &data,
        Loss::SparseCategoricalCrossEntropy,
        Sgd::new(0.01),
        1,
    );
    assert_eq!(has(&found, Symptom::Saturation).layer, Some(0));
}

#[test]
fn the_update_ratio_tells_a_rate_too_high_or_too_low() {
    let data = digits().unwrap();
    let mut net = digits_mlp(&common::cpu(), Activation::Relu);
    let found = fit(
        &mut net,
        &data,
        Loss::SparseCategoricalCrossEntropy,
        Adam::new(1.0),
        1,
    );
    assert!(has(&found, Symptom::LearningRateTooHigh)
        .message
        .contains("likely too high"));
    let mut net = digits_mlp(&common::cpu(), Activation::Relu);
    let found = fit(
        &mut net,
        &data,
        Loss::SparseCategoricalCrossEntropy,
        Sgd::new(1e-7),
        1,
    );
    assert!(has(&found, Symptom::LearningRateTooLow)
        .message
        .contains("likely too low"));
    assert!(!symptoms(&found).contains(&Symptom::LearningRateTooHigh));
}

#[test]
fn a_diagnosis_is_recorded_once_per_layer_and_symptom() {
    let data = digits().unwrap();
    let mut net = digits_mlp(&common::cpu(), Activation::Relu);
    let found = fit(
        &mut net,
        &data,
        Loss::SparseCategoricalCrossEntropy,
        Sgd::new(1e-7),
        3,
    );
    let low: Vec<_> = found
        .iter()
        .filter(|d| d.symptom == Symptom::LearningRateTooLow)
        .collect();
    assert_eq!(low.len(), 1, "{found:#?}");
    assert_eq!(low[0].epoch, 1);
}

fn layer(index: usize, grad: f32) -> LayerHealth {
    LayerHealth {
        index,
        layer: format!("Dense({index})"),
        grad_norm: Some(grad),
        weight_norm: Some(1.0),
        update_ratio: Some(1e-3),
        dead_fraction: None,
        saturated_fraction: None,
    }
}

fn epoch(layers: Vec<LayerHealth>) -> EpochHealth {
    EpochHealth { epoch: 2, layers }
}

#[test]
fn each_threshold_is_where_the_documentation_puts_it() {
    let just = |below: f32| [below * 0.99, below * 1.01];
    let of = |h: &EpochHealth| symptoms(&diagnose(h, None));
    // Vanishing: an earlier layer's norm below VANISHING_RATIO of a later one's.
    let [under, over] = just(diagnosis::VANISHING_RATIO);
    assert_eq!(
        of(&epoch(vec![layer(0, under), layer(1, 1.0)])),
        [Symptom::VanishingGradients]
    );
    assert!(of(&epoch(vec![layer(0, over), layer(1, 1.0)])).is_empty());
    // A later layer's small norm is not vanishing (the gradient grew toward the input).
    assert!(
        !of(&epoch(vec![layer(0, 1.0), layer(1, under)])).contains(&Symptom::VanishingGradients)
    );
    // Exploding: above EXPLODING_RATIO of a later layer's, or non-finite.
    let [under, over] = just(diagnosis::EXPLODING_RATIO);
    assert_eq!(
        of(&epoch(vec![layer(0, over), layer(1, 1.0)])),
        [Symptom::ExplodingGradients]
    );
    assert!(of(&epoch(vec![layer(0, under), layer(1, 1.0)])).is_empty());
    assert_eq!(
        of(&epoch(vec![layer(0, f32::INFINITY), layer(1, 1.0)])),
        [Symptom::ExplodingGradients]
    );
    // ... or above EXPLODING_GRADIENT_TO_WEIGHT × the layer's weight norm (1 here).
    let [under, over] = just(diagnosis::EXPLODING_GRADIENT_TO_WEIGHT);
    assert_eq!(
        of(&epoch(vec![layer(0, over)])),
        [Symptom::ExplodingGradients]
    );
    assert!(of(&epoch(vec![layer(0, under)])).is_empty());
    // Growth over the run: EXPLODING_GROWTH × the first epoch's largest norm.
    let [under, over] = just(diagnosis::EXPLODING_GROWTH);
    let first = epoch(vec![layer(0, 1.0)]);
    assert_eq!(
        symptoms(&diagnose(&epoch(vec![layer(0, over)]), Some(&first))),
        [Symptom::ExplodingGradients]
    );
    assert!(diagnose(&epoch(vec![layer(0, under)]), Some(&first)).is_empty());
    // Dead and saturated fractions; saturation of the last layer (an output) is not one.
    let frac = |dead: Option<f32>, sat: Option<f32>| {
        let mut l = layer(0, 1.0);
        (l.dead_fraction, l.saturated_fraction) = (dead, sat);
        epoch(vec![l, layer(1, 1.0)])
    };
    assert_eq!(
        of(&frac(Some(diagnosis::DEAD_FRACTION), None)),
        [Symptom::DeadRelus]
    );
    assert!(of(&frac(Some(diagnosis::DEAD_FRACTION * 0.99), None)).is_empty());
    assert_eq!(
        of(&frac(None, Some(diagnosis::SATURATED_FRACTION))),
        [Symptom::Saturation]
    );
    assert!(of(&frac(None, Some(diagnosis::SATURATED_FRACTION * 0.99))).is_empty());
    let mut out = layer(1, 1.0);
    out.saturated_fraction = Some(1.0);
    assert!(of(&epoch(vec![layer(0, 1.0), out])).is_empty());
    // The update ratio: the largest layer's against UPDATE_RATIO_HIGH and _LOW.
    let ratio = |r: f32| {
        let mut l = layer(0, 1.0);
        l.update_ratio = Some(r);
        epoch(vec![l])
    };
    let [under, over] = just(diagnosis::UPDATE_RATIO_HIGH);
    assert_eq!(of(&ratio(over)), [Symptom::LearningRateTooHigh]);
    assert!(of(&ratio(under)).is_empty());
    let [under, over] = just(diagnosis::UPDATE_RATIO_LOW);
    assert_eq!(of(&ratio(under)), [Symptom::LearningRateTooLow]);
    assert!(of(&ratio(over)).is_empty());
}
