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

/// Position `index` (`< n`) of a random permutation of `0..n` chosen by `key`, in constant
/// time per index and with no table: a four-round Feistel network on the smallest square of
/// a power of two that holds `n`, walking the cycle until it lands inside `0..n`. Loader
/// threads can each compute their own examples of an epoch's order independently.
pub fn permute(index: u64, n: u64, key: &[u64]) -> u64 {
    assert!(index < n, "permute: index {index} out of 0..{n}");
    let half_bits = (64 - (n.max(2) - 1).leading_zeros()).div_ceil(2);
    let mask = (1u64 << half_bits) - 1;
    let round_key = hash(key);
    let mut x = index;
    loop {
        let (mut left, mut right) = (x >> half_bits, x & mask);
        for round in 0..4 {
            let f = hash(&[round_key, round, right]) & mask;
            (left, right) = (right, left ^ f);
        }
        x = (left << half_bits) | right;
        if x < n {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_is_a_permutation_that_depends_on_its_key() {
        for n in [1u64, 2, 3, 7, 64, 100, 1001] {
            let mut seen: Vec<u64> = (0..n).map(|i| permute(i, n, &[5, 9])).collect();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
        let a: Vec<u64> = (0..100).map(|i| permute(i, 100, &[5, 1])).collect();
        let b: Vec<u64> = (0..100).map(|i| permute(i, 100, &[5, 2])).collect();
        assert_ne!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }
}
