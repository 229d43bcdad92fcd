//! Any bytes as a GraphQL segments response: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optimizely_fx_core::odp::parse_segments_response;

fuzz_target!(|data: &[u8]| {
    let _ = parse_segments_response(data);
});
