//! Interpolation and .env parsing on arbitrary text: no panic, ever.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lookup = |k: &str| (k.len() % 2 == 0).then(|| format!("v{k}"));
    let _ = berth_spec::interpolate::substitute(text, &lookup, &mut |_| {});
    let _ = berth_spec::dotenv::parse(text, &lookup);
});
