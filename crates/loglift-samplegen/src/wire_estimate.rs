//! Over-estimates of what a Firehose record's answer takes in the ingest response, so a
//! Firehose lane can keep each invocation's response under Lambda's 6 MB cap (a record that does
//! not fit is answered `ProcessingFailed` / `response_too_large`, which would make the manifest's
//! counts depend on the handler's packing).

use loglift_core::wire::base64_len;

/// Bytes a raw-event line adds around the event itself (pipeline, id, arrival, origin with
/// shard, sequence, record id, log group and stream): about 400 in practice; over-estimated.
pub(crate) const LINE_OVERHEAD: usize = 640;

/// An `Ok` answer carrying events of these serialised lengths, with its partition keys.
pub(crate) fn ok(event_lens: impl IntoIterator<Item = usize>) -> usize {
    let lines: usize = event_lens.into_iter().map(|n| n + LINE_OVERHEAD).sum();
    base64_len(lines) + 320
}

/// A `ProcessingFailed` answer for a record of `len` bytes, over-estimated as if it sent them back
/// (ingest sends none; the estimate keeps how generated batches are packed).
pub(crate) fn failed(len: usize) -> usize {
    base64_len(len) + 160
}
