//! Embeddings in the TensorBoard Embedding Projector's format: the vectors as a TSV, one row
//! per point; their metadata as a TSV with a header row; a sprite (one image of every point's
//! face, tiles in a square grid, row by row); and the configs that tie them together, for
//! TensorBoard (`projector_config.pbtxt` in a log folder) and for the standalone projector
//! (`projector_config.json`). The CLI writes these files and the app downloads them.

use crate::face::frame::area_resize;

/// The files, by name.
pub const TENSORS: &str = "tensors.tsv";
pub const METADATA: &str = "metadata.tsv";
pub const SPRITE: &str = "sprite.png";
pub const CONFIG_JSON: &str = "projector_config.json";
pub const CONFIG_PBTXT: &str = "projector_config.pbtxt";

/// The projector reads sprites up to this size.
pub const MAX_SPRITE_SIDE: usize = 8192;

/// One image of every point's face, tiles in a square grid row by row, each tile as large as
/// the faces or as large as fits `MAX_SPRITE_SIDE`; RGB, row-major, before PNG encoding (the
/// CLI's `image`, the page's canvas). Faces are placed one at a time, so a caller never holds
/// them all.
#[derive(Clone, Debug, PartialEq)]
pub struct Sprite {
    pub width: usize,
    pub height: usize,
    /// Side of one tile in pixels.
    pub tile: usize,
    /// Tiles per row (and rows at most).
    pub columns: usize,
    /// Faces it has room for.
    pub count: usize,
    /// Side of the faces placed in it.
    pub face_size: usize,
    pub rgb: Vec<u8>,
}

impl Sprite {
    pub fn new(count: usize, face_size: usize) -> Result<Self, String> {
        Self::within(count, face_size, MAX_SPRITE_SIDE)
    }

    fn within(count: usize, face_size: usize, max_side: usize) -> Result<Self, String> {
        if count == 0 || face_size == 0 {
            return Err("a sprite needs at least one face of at least one pixel".into());
        }
        let columns = (count as f64).sqrt().ceil() as usize;
        let tile = face_size.min(max_side / columns);
        if tile == 0 {
            return Err(format!("{count} faces do not fit a {max_side} px sprite"));
        }
        let side = columns * tile;
        Ok(Self { width: side, height: side, tile, columns, count, face_size, rgb: vec![0; side * side * 3] })
    }

    /// Puts face `k` (planar RGB in [0, 1], `face_size` square) in its tile.
    pub fn place(&mut self, k: usize, face: &[f32]) -> Result<(), String> {
        let size = self.face_size;
        if k >= self.count {
            return Err(format!("face {k} of a sprite of {}", self.count));
        }
        if face.len() != 3 * size * size {
            return Err(format!("a face must be 3 x {size} x {size} values, not {}", face.len()));
        }
        let tile = self.tile;
        let shrunk;
        let planes = if tile == size {
            face
        } else {
            shrunk = area_resize(face, 3, size, size, tile, tile);
            &shrunk
        };
        let (x0, y0) = ((k % self.columns) * tile, (k / self.columns) * tile);
        for y in 0..tile {
            for x in 0..tile {
                for c in 0..3 {
                    let v = planes[c * tile * tile + y * tile + x];
                    self.rgb[((y0 + y) * self.width + x0 + x) * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
        Ok(())
    }
}

/// The text files and configs.
#[derive(Clone, Debug)]
pub struct Export {
    pub tensors: String,
    pub metadata: String,
    pub config_json: String,
    pub config_pbtxt: String,
}

/// A field as the projector's TSV reader takes it: no tabs or line breaks inside.
fn field(value: &str) -> String {
    value.replace(['\t', '\n', '\r'], " ")
}

/// The export of `embeddings` (all of one dimension), with one metadata row per embedding under
/// `columns`, naming `sprite` in the configs when there is one (of one face per embedding).
pub fn export(name: &str, embeddings: &[Vec<f32>], columns: &[&str], rows: &[Vec<String>], sprite: Option<&Sprite>) -> Result<Export, String> {
    let dim = embeddings.first().map(Vec::len).ok_or("nothing to export: no embeddings")?;
    if let Some(bad) = embeddings.iter().position(|e| e.len() != dim) {
        return Err(format!("embedding {bad} has {} values, the first has {dim}", embeddings[bad].len()));
    }
    if rows.len() != embeddings.len() || rows.iter().any(|r| r.len() != columns.len()) {
        return Err(format!("{} metadata rows of {} columns for {} embeddings", rows.len(), columns.len(), embeddings.len()));
    }
    if let Some(s) = sprite.filter(|s| s.count != embeddings.len()) {
        return Err(format!("a sprite of {} faces for {} embeddings", s.count, embeddings.len()));
    }
    let mut tensors = String::new();
    for e in embeddings {
        let line: Vec<String> = e.iter().map(|v| format!("{v}")).collect();
        tensors.push_str(&line.join("\t"));
        tensors.push('\n');
    }
    // With one column the projector wants no header row; with several, it needs one.
    let mut metadata = String::new();
    if columns.len() > 1 {
        metadata.push_str(&columns.iter().map(|c| field(c)).collect::<Vec<_>>().join("\t"));
        metadata.push('\n');
    }
    for row in rows {
        metadata.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join("\t"));
        metadata.push('\n');
    }
    let sprite_json = sprite.map(|s| format!(r#","sprite":{{"imagePath":"{SPRITE}","singleImageDim":[{t},{t}]}}"#, t = s.tile)).unwrap_or_default();
    let name_json = serde_json::to_string(name).unwrap_or_else(|_| "\"fabnet\"".into());
    let config_json = format!(
        r#"{{"embeddings":[{{"tensorName":{name_json},"tensorShape":[{n},{dim}],"tensorPath":"{TENSORS}","metadataPath":"{METADATA}"{sprite_json}}}]}}"#,
        n = embeddings.len()
    );
    let sprite_pbtxt = sprite
        .map(|s| format!("  sprite {{\n    image_path: \"{SPRITE}\"\n    single_image_dim: {t}\n    single_image_dim: {t}\n  }}\n", t = s.tile))
        .unwrap_or_default();
    let config_pbtxt = format!("embeddings {{\n  tensor_name: {name_json}\n  tensor_path: \"{TENSORS}\"\n  metadata_path: \"{METADATA}\"\n{sprite_pbtxt}}}\n");
    Ok(Export { tensors, metadata, config_json, config_pbtxt })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(value: f32, size: usize) -> Vec<f32> {
        vec![value; 3 * size * size]
    }

    #[test]
    fn files_have_one_row_per_point_and_the_sprite_one_tile_per_face() {
        let embeddings: Vec<Vec<f32>> = (0..5).map(|i| vec![i as f32, 0.5, -1.0]).collect();
        let rows: Vec<Vec<String>> = (0..5).map(|i| vec![format!("clip\t{i}"), format!("{i}")]).collect();
        let mut s = Sprite::new(5, 8).unwrap();
        for i in 0..5 {
            s.place(i, &face(i as f32 / 4.0, 8)).unwrap();
        }
        let e = export("fabnet", &embeddings, &["clip", "frame"], &rows, Some(&s)).unwrap();
        let lines: Vec<&str> = e.tensors.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines.iter().all(|l| l.split('\t').count() == 3));
        assert_eq!(lines[2], "2\t0.5\t-1");
        let meta: Vec<&str> = e.metadata.lines().collect();
        assert_eq!(meta[0], "clip\tframe", "a header row with several columns");
        assert_eq!(meta.len(), 6);
        assert_eq!(meta[1], "clip 0\t0", "tabs inside a field would shift the columns");
        // 5 faces: a 3 x 3 grid of 8 px tiles, row by row.
        assert_eq!((s.width, s.height, s.tile, s.columns), (24, 24, 8, 3));
        let at = |k: usize| s.rgb[(((k / 3) * 8 + 4) * 24 + (k % 3) * 8 + 4) * 3];
        assert_eq!((0..5).map(at).collect::<Vec<_>>(), vec![0, 64, 128, 191, 255]);
        assert_eq!(at(5), 0, "cells past the last face stay empty");
        assert!(e.config_json.contains(r#""tensorShape":[5,3]"#) && e.config_json.contains(r#""singleImageDim":[8,8]"#), "{}", e.config_json);
        assert!(serde_json::from_str::<serde_json::Value>(&e.config_json).is_ok());
        assert!(e.config_pbtxt.contains("single_image_dim: 8") && e.config_pbtxt.contains("tensor_path: \"tensors.tsv\""));
    }

    #[test]
    fn a_single_column_has_no_header_and_large_sprites_shrink_their_tiles() {
        let embeddings = vec![vec![1.0f32, 2.0]; 200];
        let rows = vec![vec!["x".to_string()]; 200];
        let e = export("many", &embeddings, &["clip"], &rows, None).unwrap();
        assert_eq!(e.metadata.lines().count(), 200, "no header row");
        assert!(!e.config_json.contains("sprite"));
        // 200 faces of 16 px in at most 128 px: 15 columns of 8 px tiles, the faces averaged down.
        let mut s = Sprite::within(200, 16, 128).unwrap();
        for i in 0..200 {
            s.place(i, &(0..3 * 256).map(|j| ((i + j) % 2) as f32).collect::<Vec<_>>()).unwrap();
        }
        assert_eq!((s.columns, s.tile, s.width), (15, 8, 120));
        assert!(s.rgb[..3 * 120].iter().all(|&v| (100..=155).contains(&v)), "stripes average to grey");
    }

    #[test]
    fn mismatched_inputs_are_refused_in_words() {
        assert!(export("x", &[], &["a"], &[], None).unwrap_err().contains("no embeddings"));
        assert!(export("x", &[vec![1.0], vec![1.0, 2.0]], &["a"], &[vec!["".into()], vec!["".into()]], None).unwrap_err().contains("embedding 1"));
        assert!(export("x", &[vec![1.0]], &["a", "b"], &[vec!["".into()]], None).unwrap_err().contains("metadata rows"));
        let mut s = Sprite::new(2, 8).unwrap();
        assert!(s.place(0, &face(0.0, 4)).unwrap_err().contains("3 x 8 x 8"));
        assert!(s.place(2, &face(0.0, 8)).is_err(), "past the last tile");
        assert!(export("x", &[vec![1.0]], &["a"], &[vec!["".into()]], Some(&s)).unwrap_err().contains("a sprite of 2 faces for 1"));
        assert!(Sprite::within(10_000, 64, 64).is_err(), "100 columns cannot fit 64 px");
    }
}
