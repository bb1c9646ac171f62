//! Hash-based randomness: draws that depend only on their key, on every platform.

/// SplitMix64 over a few words: a fast, well-mixed, platform-independent hash.
pub fn hash(words: &[u64]) -> u64 {
    let mut h = 0x9e3779b97f4a7c15u64;
    for &w in words {
        h = h.wrapping_add(w).wrapping_add(0x9e3779b97f4a7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        h = z ^ (z >> 31);
    }
    h
}

/// A uniform draw in `0..n` from a hash.
pub fn below(h: u64, n: usize) -> usize {
    ((h as u128 * n as u128) >> 64) as usize
}
