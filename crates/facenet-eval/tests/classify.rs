//! The classifier: hand-checked probabilities, training on separable data, the model file's
//! round trip and its validation, and the dataset split.

use facenet_eval::classify::{
    split_dataset, train, ClassifierModel, EmbeddingModel, TrainOptions, TrainingInfo,
    MODEL_FORMAT, MODEL_KIND,
};

fn emb_model(dim: usize) -> EmbeddingModel {
    EmbeddingModel {
        name: "test-model".into(),
        version: "1".into(),
        embedding_size: dim,
    }
}

fn hand_model() -> ClassifierModel {
    ClassifierModel {
        format: MODEL_FORMAT,
        kind: MODEL_KIND.into(),
        embedding_model: emb_model(2),
        classes: vec!["ann".into(), "bob".into()],
        coefficients: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        intercepts: vec![0.0, 0.0],
        training: TrainingInfo {
            images: 2,
            images_per_class: vec![1, 1],
            alpha: 1.0,
            max_iterations: 1,
        },
    }
}

#[test]
fn probabilities_are_the_softmax_of_the_linear_scores() {
    let m = hand_model();
    // Scores ln 3 and 0: softmax 3/4, 1/4.
    let p = m.probabilities(&[3f32.ln(), 0.0]).unwrap();
    assert!(
        (p[0] - 0.75).abs() < 1e-6 && (p[1] - 0.25).abs() < 1e-6,
        "{p:?}"
    );
    let best = m.predict(&[0.0, 3f32.ln()]).unwrap();
    assert_eq!(best.class, 1);
    assert!((best.probability - 0.75).abs() < 1e-6);
    // Ties go to the first class, as np.argmax.
    assert_eq!(m.predict(&[0.5, 0.5]).unwrap().class, 0);
    assert!(m.probabilities(&[1.0]).is_err());
}

fn blobs() -> (Vec<Vec<f32>>, Vec<usize>) {
    // Three classes around the first three axes of an 8-d space, 6 samples each.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for c in 0..3 {
        for k in 0..6 {
            let mut v = vec![0.05 * ((k * 7 + c) % 5) as f32; 8];
            v[c] += 1.0;
            v[7] -= 0.03 * k as f32;
            x.push(v);
            y.push(c);
        }
    }
    (x, y)
}

#[test]
fn trains_a_separable_problem() {
    let (x, y) = blobs();
    let classes = vec!["a".to_string(), "b".into(), "c".into()];
    let m = train(
        &x,
        &y,
        classes.clone(),
        emb_model(8),
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(m.classes, classes);
    assert_eq!(m.coefficients.len(), 3);
    assert_eq!(m.coefficients[0].len(), 8);
    assert_eq!(m.training.images, 18);
    assert_eq!(m.training.images_per_class, vec![6, 6, 6]);
    for (v, &c) in x.iter().zip(&y) {
        let p = m.probabilities(v).unwrap();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let best = m.predict(v).unwrap();
        assert_eq!(best.class, c);
        assert!(best.probability > 0.9, "{p:?}");
    }
    // An unseen point near axis 2 is class c.
    let mut q = vec![0.0; 8];
    q[2] = 0.8;
    assert_eq!(m.predict(&q).unwrap().class, 2);
}

#[test]
fn training_rejects_bad_input() {
    let (x, y) = blobs();
    let names = |k: usize| (0..k).map(|i| format!("c{i}")).collect::<Vec<_>>();
    let o = TrainOptions::default();
    let err = |r: Result<ClassifierModel, facenet_eval::Error>| r.unwrap_err().to_string();
    assert!(
        err(train(&x, &y[..3], names(3), emb_model(8), &o)).contains("18 embeddings for 3 labels")
    );
    assert!(err(train(&x, &y, names(3), emb_model(4), &o)).contains("has 8 values"));
    assert!(err(train(&x, &y, names(2), emb_model(8), &o)).contains("not one of the 2 classes"));
    assert!(err(train(&x, &y, names(4), emb_model(8), &o)).contains("\"c3\" has no training"));
    let one = vec![0; x.len()];
    assert!(err(train(&x, &one, names(1), emb_model(8), &o)).contains("at least 2 classes"));
}

#[test]
fn model_file_round_trip_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    let (x, y) = blobs();
    let m = train(
        &x,
        &y,
        vec!["a".into(), "b".into(), "c".into()],
        emb_model(8),
        &TrainOptions::default(),
    )
    .unwrap();
    m.save(&path).unwrap();
    let loaded = ClassifierModel::load(&path).unwrap();
    // serde_json without `float_roundtrip` may parse the last bit differently.
    let ulp = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-15 * x.abs().max(1.0))
    };
    assert!(ulp(&loaded.intercepts, &m.intercepts));
    assert!(loaded
        .coefficients
        .iter()
        .zip(&m.coefficients)
        .all(|(a, b)| ulp(a, b)));
    assert_eq!(
        (&loaded.classes, &loaded.embedding_model, &loaded.training),
        (&m.classes, &m.embedding_model, &m.training)
    );
    // Plain JSON with the documented fields.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["kind"], "multinomial_logistic_regression");
    assert_eq!(v["embedding_model"]["name"], "test-model");
    assert_eq!(v["classes"][2], "c");

    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut w = v.clone();
        f(&mut w);
        std::fs::write(&path, w.to_string()).unwrap();
        ClassifierModel::load(&path).unwrap_err().to_string()
    };
    let e = broken(&|w| {
        w["coefficients"][1].as_array_mut().unwrap().pop();
    });
    assert!(
        e.contains("coefficient row 1 has 7 values, embedding_size is 8"),
        "{e}"
    );
    let e = broken(&|w| {
        w["intercepts"].as_array_mut().unwrap().pop();
    });
    assert!(e.contains("2 intercepts for 3 classes"), "{e}");
    let e = broken(&|w| w["classes"][1] = "a".into());
    assert!(e.contains("class \"a\" appears twice"), "{e}");
    let e = broken(&|w| w["format"] = 2.into());
    assert!(e.contains("format 2"), "{e}");
    let e = broken(&|w| w["kind"] = "svm".into());
    assert!(e.contains("kind \"svm\""), "{e}");
    let e = broken(&|w| {
        w.as_object_mut().unwrap().remove("classes");
    });
    assert!(
        e.contains("is not a classifier model file") && e.contains("classes"),
        "{e}"
    );
    std::fs::write(&path, b"\x80\x81 pickle").unwrap();
    assert!(ClassifierModel::load(&path).is_err());
    assert!(ClassifierModel::load(&dir.path().join("missing.json")).is_err());
}

#[test]
fn split_takes_the_first_images_of_classes_large_enough() {
    let data = vec![
        ("a".to_string(), vec![1, 2, 3, 4]),
        ("b".to_string(), vec![5, 6]),
        ("c".to_string(), vec![7, 8, 9]),
    ];
    let s = split_dataset(&data, 3, 2);
    assert_eq!(
        s.train,
        vec![("a".to_string(), vec![1, 2]), ("c".to_string(), vec![7, 8])]
    );
    assert_eq!(
        s.test,
        vec![("a".to_string(), vec![3, 4]), ("c".to_string(), vec![9])]
    );
    // More training images than a class has: all train, none test.
    let s = split_dataset(&data, 1, 10);
    assert_eq!(s.train, data);
    assert!(s.test.iter().all(|(_, v)| v.is_empty()));
}
