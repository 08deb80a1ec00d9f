//! Shared invariant checks for the fuzz targets (and, through `#[path]`, for
//! `crates/loglift-core/tests/fuzz_smoke.rs`). See `docs/fuzzing.md`.

pub mod checks;
