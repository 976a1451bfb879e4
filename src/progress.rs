//! Progress display for long steps: a spinner with elapsed time on a terminal, one line per step
//! otherwise (logs, CI). Everything goes to stderr so stdout stays clean for results.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `f` while showing `message`, then prints how long it took.
pub fn step<T>(message: &str, f: impl FnOnce() -> T) -> T {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let start = Instant::now();
    let out = f();
    bar.finish_and_clear();
    eprintln!("{message}: done in {:.2} s", start.elapsed().as_secs_f64());
    out
}
