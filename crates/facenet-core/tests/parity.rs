//! Parity with the original Python FaceNet pipeline's outputs in `shared/reference/`:
//! MTCNN boxes and landmarks, the face choice and crop, and embeddings (crop and end to end).

mod common;

use common::{cosine, floats, iou, json, pipeline, shared_dir};
use facenet_core::decode::{decode_path, DecodeLimits};
use facenet_core::manifest::sha256_bytes;
use facenet_core::mtcnn::Trace;

#[test]
fn mtcnn_boxes_and_landmarks_match_the_reference() {
    let Some(shared) = shared_dir("mtcnn parity") else {
        return;
    };
    let p = pipeline();
    let reference = json(shared.join("reference/mtcnn.json"));
    let images = reference["images"].as_array().expect("images");
    assert_eq!(images.len(), 24);
    let (mut worst_iou, mut worst_lm, mut faces_total) = (1.0f64, 0.0f64, 0);
    for im in images {
        let rel = im["path"].as_str().expect("path");
        let img = decode_path(&shared.join(rel), &DecodeLimits::default())
            .expect(rel)
            .image;
        let mut trace = Trace::default();
        let faces = p.detector.detect_traced(&img, &mut trace).expect(rel);
        let want = im["boxes"].as_array().expect("boxes");
        assert_eq!(faces.len(), want.len(), "{rel}: face count");
        assert_eq!(
            trace.pnet_input_hw.len(),
            im["pnet_input_hw"].as_array().expect("hw").len(),
            "{rel}: pyramid levels"
        );
        assert_eq!(
            trace.stage2.len(),
            im["stage2_boxes"].as_array().expect("s2").len(),
            "{rel}: O-Net inputs"
        );
        for (k, (f, w)) in faces.iter().zip(want).enumerate() {
            let w = floats(w);
            let o = iou(&f.bbox, &w[..4]);
            assert!(o >= 0.99, "{rel} face {k}: IoU {o}");
            assert!((f.score - w[4]).abs() < 1e-4, "{rel} face {k}: score");
            worst_iou = worst_iou.min(o);
            for (j, lm) in im["landmarks"][k]
                .as_array()
                .expect("lm")
                .iter()
                .enumerate()
            {
                let lm = floats(lm);
                let d = (f.landmarks[j][0] - lm[0]).hypot(f.landmarks[j][1] - lm[1]);
                assert!(d <= 1.0, "{rel} face {k} landmark {j}: {d} px off");
                worst_lm = worst_lm.max(d);
            }
            faces_total += 1;
        }
    }
    eprintln!("mtcnn parity: {faces_total} faces in 24 images, worst IoU {worst_iou:.6}, worst landmark {worst_lm:.2e} px");
}

#[test]
fn face_choice_and_aligned_crops_match_the_reference() {
    let Some(shared) = shared_dir("alignment parity") else {
        return;
    };
    let p = pipeline();
    let det = json(shared.join("reference/mtcnn.json"));
    let emb = json(shared.join("reference/aligned/embeddings.json"));
    let items = emb["items"].as_array().expect("items");
    assert_eq!(items.len(), 17);
    for it in items {
        let rel = it["path"].as_str().expect("path");
        let im = det["images"]
            .as_array()
            .expect("images")
            .iter()
            .find(|i| i["path"] == it["path"])
            .expect("entry");
        let img = decode_path(&shared.join(rel), &DecodeLimits::default())
            .expect(rel)
            .image;
        let faces = p.detect(&img).expect(rel);
        let sel = p.select(&img, &faces).expect("a face");
        assert_eq!(
            Some(sel as u64),
            im["selected"].as_u64(),
            "{rel}: selected face"
        );
        let bb: Vec<u64> = it["crop_bb"]
            .as_array()
            .expect("bb")
            .iter()
            .map(|v| v.as_u64().expect("int"))
            .collect();
        let got: Vec<u64> = faces[sel].crop_box.iter().map(|&v| u64::from(v)).collect();
        assert_eq!(got, bb, "{rel}: crop box");
        let crop = p.aligned(&img, &faces[sel]).expect("crop");
        assert_eq!(
            sha256_bytes(crop.as_raw()),
            it["crop_rgb_sha256"].as_str().expect("sha"),
            "{rel}: aligned crop pixels differ from Pillow's"
        );
    }
}

#[test]
fn embeddings_of_reference_crops_match() {
    let Some(shared) = shared_dir("embedding parity") else {
        return;
    };
    let p = pipeline();
    let emb = json(shared.join("reference/aligned/embeddings.json"));
    let items = emb["items"].as_array().expect("items");
    let crops: Vec<image::RgbImage> = items
        .iter()
        .map(|it| {
            let png = shared
                .join("reference")
                .join(it["aligned_png"].as_str().expect("png"));
            decode_path(&png, &DecodeLimits::default())
                .expect("png")
                .image
        })
        .collect();
    let got = p.embedder.embed(&crops).expect("embed");
    let flipped: Vec<image::RgbImage> =
        crops.iter().map(image::imageops::flip_horizontal).collect();
    let got_flipped = p.embedder.embed(&flipped).expect("embed");
    let mut worst = 1.0f64;
    for (k, it) in items.iter().enumerate() {
        let c = cosine(&got[k], &floats(&it["embedding_from_png_fixed_std"]));
        let cf = cosine(
            &got_flipped[k],
            &floats(&it["embedding_from_png_fixed_std_flipped"]),
        );
        assert!(
            c >= 0.9999 && cf >= 0.9999,
            "{}: cos {c} flipped {cf}",
            it["path"]
        );
        worst = worst.min(c).min(cf);
        let norm: f32 = got[k].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-5,
            "embedding not L2-normalised: {norm}"
        );
        assert_eq!(got[k].len(), 512);
    }
    eprintln!("crop embedding parity: worst cos {worst:.8} over 17 crops (and their mirrors)");
}

#[test]
fn end_to_end_embeddings_from_original_photos_match() {
    let Some(shared) = shared_dir("end-to-end parity") else {
        return;
    };
    let p = pipeline();
    let emb = json(shared.join("reference/aligned/embeddings.json"));
    let mut worst = 1.0f64;
    for it in emb["items"].as_array().expect("items") {
        let rel = it["path"].as_str().expect("path");
        let img = p.decode(&shared.join(rel)).expect(rel).image;
        let faces = p.detect(&img).expect(rel);
        let sel = p.select(&img, &faces).expect("face");
        let e = p.embed_faces(&img, &faces[sel..=sel]).expect("embed")[0]
            .clone()
            .expect("crop");
        let c = cosine(&e, &floats(&it["embedding_end_to_end"]));
        assert!(c >= 0.999, "{rel}: end-to-end cos {c}");
        worst = worst.min(c);
    }
    eprintln!("end-to-end parity: worst cos {worst:.8} over 17 photos");
}

#[test]
fn a_faces_embedding_does_not_depend_on_its_batch() {
    let Some(shared) = shared_dir("batch invariance") else {
        return;
    };
    let p = pipeline();
    let dir = shared.join("reference/aligned");
    let mut pngs: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|x| x.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    let crops: Vec<image::RgbImage> = pngs
        .iter()
        .map(|x| decode_path(x, &DecodeLimits::default()).expect("png").image)
        .collect();
    let together = p.embedder.embed(&crops).expect("batch");
    let mut worst = 0f32;
    for (k, c) in crops.iter().enumerate() {
        let alone = p.embedder.embed(std::slice::from_ref(c)).expect("single");
        let d = alone[0]
            .iter()
            .zip(&together[k])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(d);
    }
    eprintln!(
        "batch invariance: max abs difference {worst:e} between batch of 17 and batches of 1"
    );
    assert!(worst <= 1e-6, "embedding changed with its batch by {worst}");
}

#[test]
fn channel_order_is_respected() {
    let Some(shared) = shared_dir("channel order") else {
        return;
    };
    let p = pipeline();
    let img = p
        .decode(&shared.join("data/photos/test_images/obama.jpg"))
        .expect("obama")
        .image;
    let mut swapped = img.clone();
    for px in swapped.pixels_mut() {
        px.0.swap(0, 2);
    }
    let embed_main = |im: &image::RgbImage| {
        let faces = p.detect(im).expect("detect");
        let sel = p.select(im, &faces).expect("face");
        p.embed_faces(im, &faces[sel..=sel]).expect("embed")[0]
            .clone()
            .expect("crop")
    };
    let a = embed_main(&img);
    let b = embed_main(&swapped);
    let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    eprintln!("R/B swapped: cos {cos:.4} with the original");
    assert!(
        cos < 0.99,
        "swapping R and B left the embedding unchanged (cos {cos})"
    );
}

#[test]
fn lfw_embeddings_match_the_reference_run() {
    let Some(shared) = shared_dir("LFW embedding parity") else {
        return;
    };
    let p = pipeline();
    let index = json(shared.join("reference/lfw_embeddings.json"));
    let rows = std::fs::read(shared.join("reference/lfw_embeddings.f32")).expect("f32 rows");
    let mut entries: Vec<(String, usize)> = index["index"]
        .as_object()
        .expect("index")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("row") as usize))
        .collect();
    entries.sort();
    // Every 150th image: 52 people spread over the alphabet.
    let picked: Vec<&(String, usize)> = entries.iter().step_by(150).collect();
    let paths: Vec<std::path::PathBuf> = picked.iter().map(|(k, _)| shared.join(k)).collect();
    let results = p.analyse(&paths, facenet_core::pipeline::Embed::Main);
    let mut worst = 1.0f64;
    let mut checked = 0;
    for ((rel, row), r) in picked.iter().zip(results) {
        let a = r.expect(rel);
        // The reference substituted a fallback crop where MTCNN found nothing.
        let Some(sel) = a.selected else { continue };
        let e = a.embeddings[sel].clone().expect("embedding");
        let want: Vec<f64> = rows[row * 2048..(row + 1) * 2048]
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let c = cosine(&e, &want);
        assert!(
            c >= 0.999,
            "{rel}: cos {c} with the reference run's embedding"
        );
        worst = worst.min(c);
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} images compared");
    eprintln!("LFW parity: {checked} images, worst cos {worst:.6} with the reference run");
}
