//! What several test binaries share.

use std::path::PathBuf;

/// Where `tests/data/fetch.sh` caches the real test media: `$FABNET_DATA`, or
/// `~/.cache/fabnet-data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("FABNET_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fabnet-data"))
}
