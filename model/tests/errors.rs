//! Bad configs and bad weight files are refused with clear messages, never a panic.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;
use fabnet::import::import_official;
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig};

fn parity(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity").join(name)
}

#[test]
fn image_sizes_must_be_powers_of_two_from_32_to_1024() {
    for size in [0, 16, 48, 100, 255, 2048, 1 << 20] {
        let err = FabNet::new(FabNetConfig::new(size, 8, 32, 1), &Device::flex()).unwrap_err();
        assert!(err.to_string().contains("power of two from 32 to 1024"), "{err}");
    }
    for size in [32, 64, 128, 256, 512, 1024] {
        FabNetConfig::new(size, 8, 32, 1).validate().unwrap();
    }
}

#[test]
fn zero_or_absurd_widths_and_views_are_refused() {
    for (config, field) in [
        (FabNetConfig::new(64, 0, 32, 1), "base_width"),
        (FabNetConfig::new(64, 8, 0, 1), "embedding_dim"),
        (FabNetConfig::new(64, 8, 32, 0), "source_views"),
        (FabNetConfig::new(64, 100_000, 32, 1), "base_width"),
        (FabNetConfig::new(64, 8, 1 << 30, 1), "embedding_dim"),
        (FabNetConfig::new(64, 8, 32, 1000), "source_views"),
    ] {
        let err = config.validate().unwrap_err().0;
        assert!(err.contains(field) && err.contains("from 1 to"), "{err}");
    }
    FabNetConfig::new(256, 256, 4096, 16).validate().unwrap();
}

#[test]
fn unknown_preset_lists_the_known_ones() {
    let err = FabNetConfig::preset("huge").unwrap_err().to_string();
    assert!(err.contains("huge") && err.contains("paper") && err.contains("tiny"), "{err}");
}

#[test]
fn presets_have_the_documented_shapes() {
    let paper = FabNetConfig::paper();
    assert_eq!((paper.image_size, paper.base_width, paper.embedding_dim, paper.source_views), (256, 32, 256, 3));
    assert_eq!(paper.depth(), 8);
    let channels: Vec<usize> = (0..8).map(|i| paper.encoder_channels(i)).collect();
    assert_eq!(channels, [32, 64, 128, 256, 256, 256, 256, 256]);
    let decoder: Vec<usize> = (0..7).map(|k| paper.decoder_channels(k)).collect();
    assert_eq!(decoder, [256, 256, 256, 256, 128, 64, 32]);
}

fn small_weights() -> Vec<u8> {
    let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &Device::flex()).unwrap();
    weights::to_bytes(&model, &WeightsInfo::for_model(&model, "test")).unwrap()
}

#[test]
fn weights_round_trip_exactly() {
    let device = Device::flex();
    let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &device).unwrap();
    let bytes = weights::to_bytes(&model, &WeightsInfo::for_model(&model, "round trip")).unwrap();
    let (loaded, info) = weights::from_bytes(&bytes, &device).unwrap();
    assert_eq!(info.config, model.config);
    assert_eq!(info.provenance, "round trip");
    let x = burn::tensor::Tensor::<4>::ones([1, 3, 32, 32], &device);
    let a = model.valid().embed(x.clone()).into_data();
    let b = loaded.embed(x).into_data();
    assert_eq!(a, b);
}

#[test]
fn garbage_empty_and_truncated_weights_are_refused() {
    let device = Device::flex();
    let good = small_weights();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("text", b"this is not a weights file".to_vec()),
        ("python source", include_bytes!("../../tests/parity/make_fixtures.py")[..200].to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("header only", good[..64.min(good.len())].to_vec()),
    ];
    for (what, bytes) in cases {
        let err = weights::from_bytes(&bytes, &device).err().unwrap_or_else(|| panic!("{what} accepted"));
        assert!(!err.0.is_empty(), "{what}: empty message");
    }
}

#[test]
fn checkpoints_that_are_not_fabnet_are_refused() {
    let device = Device::flex();
    let err = import_official(&parity("bad_not_fabnet.pth"), &device).unwrap_err().0;
    assert!(err.contains("not of FAb-Net"), "{err}");
    let err = import_official(&parity("bad_wrong_shapes.pth"), &device).unwrap_err().0;
    assert!(err.contains("does not match") || err.contains("shape"), "{err}");
    let err = import_official(&parity("make_fixtures.py"), &device).unwrap_err().0;
    assert!(err.contains("not a PyTorch checkpoint"), "{err}");
    let err = import_official(&parity("does_not_exist.pth"), &device).unwrap_err().0;
    assert!(!err.is_empty());
}

#[test]
fn truncated_checkpoint_is_refused() {
    let bytes = std::fs::read(parity("small_aligned.pth")).unwrap();
    let path = std::env::temp_dir().join(format!("fabnet-truncated-{}.pth", std::process::id()));
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let result = import_official(&path, &Device::flex());
    std::fs::remove_file(&path).ok();
    assert!(result.is_err());
}

#[test]
fn damaged_checkpoints_say_what_is_wrong() {
    let device = Device::flex();
    // (file, bytes kept, what the message says)
    for (name, keep, expect) in [
        ("small_aligned.pth", 900_000, "damaged zip archive"),
        ("paper_depth.pth", 600_000, "ends inside storage"),
        ("paper_depth.pth", 2_000, "the pickle ends early"),
        ("bad_not_fabnet.pth", usize::MAX, "not of FAb-Net"),
    ] {
        let bytes = std::fs::read(parity(name)).unwrap();
        let cut = &bytes[..keep.min(bytes.len())];
        let err = fabnet::import::import_checkpoint(cut, &device, &fabnet::footprint::DeviceLimits::NONE).unwrap_err().0;
        println!("{name} cut to {} of {} bytes: {err}", cut.len(), bytes.len());
        assert!(err.contains(expect), "{name}: {err}");
    }
}
