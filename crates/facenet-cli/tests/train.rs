//! `facenet train` end to end through the binary: real LFW photos aligned by `facenet align`, two
//! triplet steps from the pretrained model, and the package it writes loaded by `facenet --model
//! … embed`; bad arguments get the documented exit codes and a message that names the problem.

use std::path::Path;

mod common;

use common::facenet;

const OK: i32 = 0;
const USAGE: i32 = 2;
const FAILURE: i32 = 1;

const PEOPLE: &[&str] = &["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"];

fn raw_subset(shared: &Path, out: &Path) {
    for p in PEOPLE {
        let dst = out.join(p);
        std::fs::create_dir_all(&dst).unwrap();
        for i in 1..=3 {
            let name = format!("{p}_{i:04}.jpg");
            std::fs::copy(
                shared.join("data/lfw/images").join(p).join(&name),
                dst.join(&name),
            )
            .unwrap();
        }
    }
}

fn embedding(json: &serde_json::Value) -> Vec<f64> {
    json["images"][0]["faces"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn train_writes_a_package_that_embed_loads() {
    let Some(shared) = common::shared_lfw("train_writes_a_package_that_embed_loads") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (raw, aligned, run) = (
        tmp.path().join("raw"),
        tmp.path().join("aligned"),
        tmp.path().join("run"),
    );
    raw_subset(&shared, &raw);
    facenet([
        "align".as_ref(),
        raw.as_os_str(),
        aligned.as_os_str(),
        "--image-size".as_ref(),
        "182".as_ref(),
        "--margin".as_ref(),
        "44".as_ref(),
    ])
    .expect_code(OK);
    let r = train(
        &aligned,
        &run,
        &[
            "--loss",
            "triplet",
            "--alpha",
            "1.0",
            "--people-per-batch",
            "3",
            "--images-per-person",
            "3",
            "--max-steps",
            "2",
            "--quiet",
        ],
    );
    r.expect_code(OK);
    assert!(r.stdout.contains("trained 2 steps"), "{}", r.stdout);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    // Alpha 1.0 mines triplets from these faces, so both steps have a loss.
    for line in csv.lines().skip(1) {
        let loss: f64 = line.split(',').nth(3).unwrap().parse().unwrap();
        assert!(loss > 0.0 && loss.is_finite(), "{line}");
    }

    let photo = shared.join("data/photos/test_images/obama.jpg");
    let model = run.join("model");
    let trained = facenet([
        "--model".as_ref(),
        model.as_os_str(),
        "embed".as_ref(),
        "--json".as_ref(),
        photo.as_os_str(),
    ]);
    trained.expect_code(OK);
    let pretrained = facenet(["embed".as_ref(), "--json".as_ref(), photo.as_os_str()]);
    pretrained.expect_code(OK);
    let (a, b) = (embedding(&trained.json()), embedding(&pretrained.json()));
    assert_eq!(a.len(), 512);
    let cos: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    eprintln!("cos trained vs pretrained after 2 steps: {cos:.5}");
    assert!(cos > 0.9 && cos < 0.999999, "cos {cos}");
}

/// `facenet train --data-dir DATA --out OUT` plus `extra`.
fn train(data: &Path, out: &Path, extra: &[&str]) -> common::Run {
    let mut args: Vec<std::ffi::OsString> = vec![
        "train".into(),
        "--data-dir".into(),
        data.into(),
        "--out".into(),
        out.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    facenet(args)
}

#[test]
fn train_refuses_bad_arguments_with_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let r = train(
        &tmp.path().join("no-such-dir"),
        &out,
        &["--loss", "triplet"],
    );
    r.expect_code(FAILURE);
    assert!(r.stderr.contains("no-such-dir"), "{}", r.stderr);

    let r = train(tmp.path(), &out, &["--loss", "contrastive"]);
    r.expect_code(USAGE);
    assert!(r.stderr.contains("contrastive"), "{}", r.stderr);

    let r = train(tmp.path(), &out, &["--loss", "triplet", "--device", "gpu"]);
    r.expect_code(FAILURE);
    assert!(r.stderr.contains("--features gpu"), "{}", r.stderr);
}
