//! Progress display for long steps: a spinner with elapsed time on a terminal, one line per step
//! otherwise (logs, CI). Everything goes to stderr so stdout stays clean for results.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `f` while showing `message`, then prints how long it took.
pub fn step<T>(message: &str, f: impl FnOnce() -> T) -> T {
    step_reporting(message, |_| f())
}

/// Like [`step`], and `f` may report sub-steps as they start: each is printed on its own line
/// with the time since the step began, so a run of many minutes shows where it is.
pub fn step_reporting<T>(message: &str, f: impl FnOnce(&dyn Fn(String)) -> T) -> T {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let start = Instant::now();
    let report = |line: String| {
        let line = since(start, &line);
        // A hidden bar (no terminal) drops println: the line must still reach the log.
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let out = f(&report);
    bar.finish_and_clear();
    eprintln!("{message}: done in {:.2} s", start.elapsed().as_secs_f64());
    out
}

/// `line` indented under its step, after the seconds since `start`: how sub-steps are logged.
pub fn since(start: Instant, line: &str) -> String {
    format!("  [{:>6.1} s] {line}", start.elapsed().as_secs_f64())
}
