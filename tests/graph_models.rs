//! Functional models: `Graph` (inputs, layers, add/multiply/concat merges), `Residual`,
//! `Chain`, activation layers and `Reshape`, on both devices.
//!
//! Each forward pass is compared with the same computation written out by hand with tensor
//! ops on the model's own parameters (so the wiring, not the ops, is under test: the ops
//! have their own parity and gradient checks); values must agree exactly on one device,
//! since both sides run the same kernels in the same order. Wiring mistakes are typed
//! errors from `build`, never panics.

mod common;

use common::devices;

use downhill::prelude::*;
use downhill::{LeakyReLU, ReLU};

fn input(device: &Device, rows: usize, cols: usize, seed: u64) -> Tensor {
    Tensor::rand_uniform(device, [rows, cols], -1.0, 1.0, seed).unwrap()
}

#[test]
fn residual_is_x_plus_f_of_x() {
    for device in devices() {
        let model = Sequential::new(&device)
            .layer(Residual::new(Dense::new(5, 5).activation(Activation::Tanh)))
            .seed(3);
        let x = input(&device, 7, 5, 1);
        let y = model.forward(&x).unwrap();
        let p = model.parameters().unwrap();
        let by_hand = (&x + &x.matmul(&p[0]).unwrap().add(&p[1]).unwrap().tanh().unwrap()).unwrap();
        assert_eq!(
            y.to_vec().unwrap(),
            by_hand.to_vec().unwrap(),
            "{}",
            device.name()
        );
        let names: Vec<String> = model
            .named_parameters()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["0.1.dense.weight", "0.1.dense.bias"]);
        assert!(model
            .summary()
            .unwrap()
            .contains("Residual[0=input(5); 1=Dense(5 -> 5, tanh)(0); 2=add(0, 1)]"));
    }
}

#[test]
fn residual_with_a_projection_and_a_chain_body() {
    let device = common::cpu();
    let block = Chain::new()
        .dense(4, 6, Activation::Relu)
        .dense(6, 6, Activation::Linear);
    let model = Sequential::new(&device)
        .layer(Residual::with_shortcut(
            block,
            Dense::new(4, 6).use_bias(false),
        ))
        .dense(6, 2, Activation::Linear);
    assert_eq!(model.out_features(), Some(2));
    let x = input(&device, 3, 4, 2);
    let y = model.forward(&x).unwrap();
    let p = model.parameters().unwrap();
    // Order: the block's two Dense layers, the shortcut, the head.
    let h = x.matmul(&p[0]).unwrap().add(&p[1]).unwrap().relu().unwrap();
    let f = h.matmul(&p[2]).unwrap().add(&p[3]).unwrap();
    let r = (&x.matmul(&p[4]).unwrap() + &f).unwrap();
    let by_hand = r.matmul(&p[5]).unwrap().add(&p[6]).unwrap();
    assert_eq!(y.to_vec().unwrap(), by_hand.to_vec().unwrap());
}

/// Two inputs (3 and 2 columns of each row), one branch each, concatenated, one head.
fn two_input_graph() -> Graph {
    let mut g = Graph::new();
    let a = g.input(3);
    let b = g.input(2);
    let ha = g.apply(Dense::new(3, 4).activation(Activation::Tanh), a);
    let hb = g.apply(Dense::new(2, 4).activation(Activation::Tanh), b);
    let gate = g.multiply(&[ha, hb]);
    let joined = g.concat(&[ha, gate]);
    let out = g.apply(Dense::new(8, 1), joined);
    g.output(out)
}

#[test]
fn two_inputs_split_the_columns_and_merge() {
    for device in devices() {
        let model = Sequential::new(&device).layer(two_input_graph());
        assert_eq!(model.in_features(), Some(5));
        let x = input(&device, 6, 5, 4);
        let y = model.forward(&x).unwrap();
        let p = model.parameters().unwrap();
        let xa = x.narrow(1, 0, 3).unwrap();
        let xb = x.narrow(1, 3, 2).unwrap();
        let ha = xa
            .matmul(&p[0])
            .unwrap()
            .add(&p[1])
            .unwrap()
            .tanh()
            .unwrap();
        let hb = xb
            .matmul(&p[2])
            .unwrap()
            .add(&p[3])
            .unwrap()
            .tanh()
            .unwrap();
        let gate = (&ha * &hb).unwrap();
        let joined = Tensor::concat(&[&ha, &gate], 1).unwrap();
        let by_hand = joined.matmul(&p[4]).unwrap().add(&p[5]).unwrap();
        assert_eq!(
            y.to_vec().unwrap(),
            by_hand.to_vec().unwrap(),
            "{}",
            device.name()
        );
    }
}

#[test]
fn a_two_input_model_trains_with_fit() {
    for device in devices() {
        // y = x0·x3 − x1 + x4: each branch sees half of what it needs.
        let rows = 128;
        let x = ndarray::Array2::from_shape_fn((rows, 5), |(r, c)| {
            (((r * 7 + c * 13) % 17) as f32 / 8.5) - 1.0
        });
        let y = ndarray::Array2::from_shape_fn((rows, 1), |(r, _)| {
            x[[r, 0]] * x[[r, 3]] - x[[r, 1]] + x[[r, 4]]
        });
        let data = Dataset::new(x, y).unwrap();
        let mut model = Sequential::new(&device).layer(two_input_graph()).seed(5);
        let config = FitConfig {
            epochs: 60,
            batch_size: 32,
            verbose: 0,
            ..FitConfig::default()
        };
        let h = model
            .fit(&data, Loss::MeanSquaredError, Adam::new(0.02), config)
            .unwrap();
        let (first, last) = (h.loss()[0], *h.loss().last().unwrap());
        assert!(
            last < first * 0.1,
            "{}: loss {first} -> {last}",
            device.name()
        );
    }
}

#[test]
fn graph_models_save_and_load_their_weights() {
    let device = common::cpu();
    let model = Sequential::new(&device).layer(two_input_graph()).seed(8);
    let path = common::runs::scratch("graph_models").join("two_input.safetensors");
    model.save_weights(&path).unwrap();
    let mut other = Sequential::new(&device).layer(two_input_graph()).seed(9);
    assert_ne!(other.get_weights().unwrap(), model.get_weights().unwrap());
    other.load_weights(&path).unwrap();
    assert_eq!(other.get_weights().unwrap(), model.get_weights().unwrap());
}

#[test]
fn wiring_mistakes_are_errors_before_anything_is_built() {
    let device = common::cpu();
    let build = |g: Graph| Sequential::new(&device).layer(g).parameters().map(|_| ());

    let mut other = Graph::new();
    let foreign = other.input(3);
    let mut g = Graph::new();
    let _x = g.input(3);
    let h = g.apply(Dense::new(3, 2), foreign);
    let err = build(g.output(h)).unwrap_err();
    assert!(err.to_string().contains("another graph"), "{err}");

    let mut g = Graph::new();
    let x = g.input(3);
    let h = g.apply(Dense::new(4, 2), x);
    let err = build(g.output(h)).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("expects 4 features"), "{err}");

    let mut g = Graph::new();
    let x = g.input(3);
    let y = g.add(&[x]);
    let err = build(g.output(y)).unwrap_err();
    assert!(err.to_string().contains("two or more"), "{err}");

    let mut g = Graph::new();
    let a = g.any_input();
    let b = g.input(2);
    let y = g.add(&[a, b]);
    let err = build(g.output(y)).unwrap_err();
    assert!(err.to_string().contains("feature count"), "{err}");

    let err = build(Graph::new()).unwrap_err();
    assert!(err.to_string().contains("no output"), "{err}");

    let err = Sequential::new(&device)
        .layer(Chain::new())
        .parameters()
        .unwrap_err();
    assert!(err.to_string().contains("no layers"), "{err}");
}

#[test]
fn activation_layers_and_reshape() {
    for device in devices() {
        let x = input(&device, 4, 6, 6);
        let relu = Sequential::new(&device).layer(ReLU);
        assert_eq!(
            relu.forward(&x).unwrap().to_vec().unwrap(),
            x.relu().unwrap().to_vec().unwrap()
        );
        let gelu = Sequential::new(&device).layer(Activation::Gelu);
        assert_eq!(
            gelu.forward(&x).unwrap().to_vec().unwrap(),
            x.gelu().unwrap().to_vec().unwrap()
        );
        let leaky = Sequential::new(&device).layer(LeakyReLU::default());
        assert_eq!(
            leaky.forward(&x).unwrap().to_vec().unwrap(),
            x.leaky_relu(0.01).unwrap().to_vec().unwrap()
        );
        let reshape = Sequential::new(&device).layer(Reshape::new([2, 3]));
        assert_eq!(reshape.forward(&x).unwrap().dims(), &[4, 2, 3]);
        let wrong = Sequential::new(&device).layer(Reshape::new([4, 2]));
        assert!(matches!(wrong.forward(&x), Err(Error::Shape { .. })));
    }
    let device = common::cpu();
    assert!(matches!(
        Sequential::new(&device)
            .layer(LeakyReLU(f32::NAN))
            .parameters(),
        Err(Error::NonFinite(_))
    ));
    assert!(matches!(
        Sequential::new(&device)
            .layer(Reshape::new([3, 0]))
            .parameters(),
        Err(Error::Config(_))
    ));
    // A size-keeping activation between two Dense layers keeps the size checks working,
    // in a Sequential model and in a graph.
    let err = Sequential::new(&device)
        .dense(3, 4, Activation::Linear)
        .layer(ReLU)
        .dense(5, 1, Activation::Linear)
        .parameters()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("layer 1 outputs 4 features but layer 2 expects 5"),
        "{err}"
    );
    let mut g = Graph::new();
    let x = g.input(3);
    let h = g.apply(Dense::new(3, 4), x);
    let h = g.apply(ReLU, h);
    let h = g.apply(Dense::new(5, 1), h);
    let err = Sequential::new(&device)
        .layer(g.output(h))
        .parameters()
        .unwrap_err();
    assert!(err.to_string().contains("gives 4"), "{err}");
}

#[test]
fn sizes_are_followed_through_dropout_and_norms() {
    let device = common::cpu();
    let err = Sequential::new(&device)
        .dense(3, 4, Activation::Linear)
        .layer(Dropout::new(0.5))
        .layer(BatchNorm1d::new(4))
        .layer(LayerNorm::new(&[4]))
        .dense(5, 1, Activation::Linear)
        .parameters()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("layer 3 outputs 4 features but layer 4 expects 5"),
        "{err}"
    );
    let err = Sequential::new(&device)
        .dense(3, 4, Activation::Linear)
        .layer(Dropout::new(0.5))
        .layer(BatchNorm1d::new(6))
        .parameters()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("layer 1 outputs 4 features but layer 2 expects 6"),
        "{err}"
    );
    // A residual block of any-size layers passes the size it is given.
    let err = Sequential::new(&device)
        .dense(3, 4, Activation::Linear)
        .layer(Residual::new(
            Chain::new().layer(Dropout::new(0.1)).layer(ReLU),
        ))
        .dense(5, 1, Activation::Linear)
        .parameters()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("layer 1 outputs 4 features but layer 2 expects 5"),
        "{err}"
    );
    let model = Sequential::new(&device)
        .dense(3, 4, Activation::Linear)
        .layer(Dropout::new(0.5))
        .layer(Activation::Softmax);
    assert_eq!(
        model.out_features(),
        Some(4),
        "a final softmax layer keeps the size"
    );
}
