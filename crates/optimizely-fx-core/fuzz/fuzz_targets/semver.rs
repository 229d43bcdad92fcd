//! Any two strings as a user's and a condition's version: parsing and comparing never panic,
//! and a version that parses equals itself. (The comparison is not antisymmetric: as in the
//! official SDKs, a target of `2.0` matches a user's `2.0.1`, and not the other way round.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use optimizely_fx_core::semver::compare;
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (user, target) = text.split_once('\n').unwrap_or((text, "1.0.0"));
    let _ = compare(user, target);
    for version in [user, target] {
        if let Some(ordering) = compare(version, version) {
            assert_eq!(ordering, Ordering::Equal, "{version:?}");
        }
    }
});
