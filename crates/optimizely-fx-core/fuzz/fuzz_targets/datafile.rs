//! Any text as a datafile: parsing never panics, and a datafile that parses can be used for
//! everything the SDK does with one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optimizely_fx_core::ProjectConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = ProjectConfig::parse(text) {
        optimizely_fx_core_fuzz::exercise(&config);
    }
});
