//! The stage handlers' [`Progress`] drawn as an indicatif bar on stderr (hidden when stderr is not
//! a terminal, so logs and pipes stay clean).

use indicatif::{ProgressBar, ProgressStyle};
use loglift_stages::redrive::Progress;

pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(what: &str) -> Bar {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} {pos}/{len} [{elapsed_precise}] {per_sec}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        Bar(bar)
    }

    /// Keep the spinner turning while nothing advances (waiting on a deadline).
    pub fn tick_steadily(&self) {
        self.0
            .enable_steady_tick(std::time::Duration::from_millis(200));
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, text: &str) {
        self.0.set_message(text.to_owned());
    }
}
