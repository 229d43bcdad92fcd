//! Bucketing: MurmurHash3 (x86, 32-bit) of `bucketing id + entity id`, scaled to a bucket value
//! in `0..10000`, and the lookup of a bucket value in a traffic allocation.
//!
//! The hash runs over the two strings as one byte stream, so no key string is ever built.

/// Seed of every Optimizely bucketing hash.
pub const HASH_SEED: u32 = 1;

/// Number of buckets: bucket values lie in `0..MAX_TRAFFIC_VALUE`.
pub const MAX_TRAFFIC_VALUE: u32 = 10_000;

const MAX_HASH_VALUE: f64 = 4_294_967_296.0;
const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 x86_32 of `data` with `seed`.
///
/// ```
/// use optimizely_fx_core::bucketing::murmur3_x86_32;
/// assert_eq!(murmur3_x86_32(b"user0", 1), 3_187_651_526);
/// ```
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    murmur3_x86_32_concat(data, &[], seed)
}

/// MurmurHash3 x86_32 of the concatenation `first ++ second`, without building it.
pub fn murmur3_x86_32_concat(first: &[u8], second: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let first_blocks = first.len() / 4 * 4;
    for block in first[..first_blocks].chunks_exact(4) {
        h = mix_block(
            h,
            u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
        );
    }
    // The block that straddles the two strings, built in a register (little-endian).
    let first_rest = &first[first_blocks..];
    let take = (4 - first_rest.len()).min(second.len());
    let carry =
        little_endian(first_rest) | little_endian(&second[..take]) << (8 * first_rest.len());
    let pending = first_rest.len() + take;
    let rest = &second[take..];
    if pending == 4 {
        h = mix_block(h, carry);
        let rest_blocks = rest.len() / 4 * 4;
        for block in rest[..rest_blocks].chunks_exact(4) {
            h = mix_block(
                h,
                u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
            );
        }
        h = mix_tail(h, &rest[rest_blocks..]);
    } else if pending > 0 {
        h ^= scramble(carry);
    }
    let total_len = first.len().wrapping_add(second.len()) as u32;
    finalize(h ^ total_len)
}

/// The little-endian value of up to 4 bytes (an empty slice is 0).
#[inline]
fn little_endian(bytes: &[u8]) -> u32 {
    match *bytes {
        [] => 0,
        [a] => u32::from(a),
        [a, b] => u32::from(a) | u32::from(b) << 8,
        [a, b, c] => u32::from(a) | u32::from(b) << 8 | u32::from(c) << 16,
        [a, b, c, d, ..] => u32::from_le_bytes([a, b, c, d]),
    }
}

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn mix_block(h: u32, k: u32) -> u32 {
    (h ^ scramble(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

fn mix_tail(h: u32, tail: &[u8]) -> u32 {
    if tail.is_empty() {
        return h;
    }
    let k = tail
        .iter()
        .rev()
        .fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
    h ^ scramble(k)
}

fn finalize(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The bucket value (`0..10000`) of a user for an entity: the hash of
/// `bucketing_id + entity_id` scaled exactly as the official SDKs do.
///
/// ```
/// use optimizely_fx_core::bucketing::bucket_value;
/// assert_eq!(bucket_value("user1", "18322080788"), 5674);
/// ```
pub fn bucket_value(bucketing_id: &str, entity_id: &str) -> u32 {
    let hash = murmur3_x86_32_concat(bucketing_id.as_bytes(), entity_id.as_bytes(), HASH_SEED);
    scale_hash(hash)
}

/// Scales a 32-bit hash to a bucket value: `floor(hash / 2^32 * 10000)`, computed in `f64`.
pub fn scale_hash(hash: u32) -> u32 {
    // The product is in [0, 10000), so the cast truncates exactly like `Math.floor`.
    (f64::from(hash) / MAX_HASH_VALUE * f64::from(MAX_TRAFFIC_VALUE)) as u32
}

/// Finds the allocation a bucket value falls into: the first `(end_of_range, entity)` pair, in
/// the given order, whose exclusive `end_of_range` is greater than `bucket`.
///
/// ```
/// use optimizely_fx_core::bucketing::allocate;
/// let ranges = [(5000, "a"), (10000, "b")];
/// assert_eq!(allocate(ranges, 4999), Some("a"));
/// assert_eq!(allocate(ranges, 5000), Some("b"));
/// ```
pub fn allocate<T>(ranges: impl IntoIterator<Item = (u32, T)>, bucket: u32) -> Option<T> {
    ranges
        .into_iter()
        .find(|(end_of_range, _)| bucket < *end_of_range)
        .map(|(_, entity)| entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_does_not_change_the_hash() {
        let key = b"a-longer-key-with-tail";
        let whole = murmur3_x86_32(key, 1);
        for split in 0..=key.len() {
            let (a, b) = key.split_at(split);
            assert_eq!(murmur3_x86_32_concat(a, b, 1), whole, "split at {split}");
        }
    }

    /// The textbook algorithm over one contiguous buffer.
    fn murmur_of_buffer(data: &[u8], seed: u32) -> u32 {
        let mut h = seed;
        let blocks = data.chunks_exact(4);
        let tail = blocks.remainder();
        for block in blocks {
            h = mix_block(
                h,
                u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
            );
        }
        finalize(mix_tail(h, tail) ^ data.len() as u32)
    }

    #[test]
    fn every_length_and_split_matches_the_contiguous_hash() {
        let bytes: Vec<u8> = (0u8..14)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for len in 0..=bytes.len() {
            let key = &bytes[..len];
            for seed in [0, 1, 0x9747_b28c] {
                let whole = murmur_of_buffer(key, seed);
                for split in 0..=len {
                    let (a, b) = key.split_at(split);
                    assert_eq!(
                        murmur3_x86_32_concat(a, b, seed),
                        whole,
                        "length {len}, split at {split}, seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn reference_values_of_the_algorithm() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
    }

    #[test]
    fn scale_bounds() {
        assert_eq!(scale_hash(0), 0);
        assert_eq!(scale_hash(u32::MAX), 9999);
    }
}
