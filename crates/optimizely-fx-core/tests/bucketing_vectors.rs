//! MurmurHash3 and bucket values against the 108 vectors computed with the official SDKs'
//! hash implementations (empty strings, non-ASCII and emoji ids included).

mod decide_support;

use decide_support::read_golden;
use optimizely_fx_core::bucketing::{
    HASH_SEED, bucket_value, murmur3_x86_32, murmur3_x86_32_concat,
};
use proptest::prelude::*;

#[test]
fn all_hash_vectors_match() {
    let golden = read_golden("bucketing-vectors.json");
    let vectors = golden["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 108);
    let mut failures = Vec::new();
    for vector in vectors {
        let bucketing_id = vector["bucketing_id"].as_str().unwrap();
        let entity_id = vector["entity_id"].as_str().unwrap();
        let key = vector["key"].as_str().unwrap();
        let hash = vector["hash"].as_u64().unwrap();
        let bucket = vector["bucket"].as_u64().unwrap();
        let whole = murmur3_x86_32(key.as_bytes(), HASH_SEED);
        let streamed =
            murmur3_x86_32_concat(bucketing_id.as_bytes(), entity_id.as_bytes(), HASH_SEED);
        let value = bucket_value(bucketing_id, entity_id);
        if u64::from(whole) != hash || u64::from(streamed) != hash || u64::from(value) != bucket {
            failures.push(format!(
                "{vector}: hash {whole}, streamed {streamed}, bucket {value}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "vectors differ:\n{}",
        failures.join("\n")
    );
}

proptest! {
    #[test]
    fn bucket_is_in_range_and_deterministic(bucketing_id in ".*", entity_id in "[0-9]{0,12}") {
        let first = bucket_value(&bucketing_id, &entity_id);
        prop_assert!(first < 10_000);
        prop_assert_eq!(first, bucket_value(&bucketing_id, &entity_id));
    }

    #[test]
    fn streamed_hash_equals_hash_of_concatenation(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let joined: Vec<u8> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(murmur3_x86_32_concat(&a, &b, HASH_SEED), murmur3_x86_32(&joined, HASH_SEED));
    }
}
