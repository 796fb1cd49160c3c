//! Where generation spends its time: with `MSA_GEN_TIMINGS=1` in the environment, each phase
//! prints its duration on stderr (`bench/generation.py --phases` reads them).

use std::sync::OnceLock;
use std::time::Instant;

fn on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MSA_GEN_TIMINGS").is_some_and(|v| v == "1"))
}

/// Prints `what` and the time since `since`, when timings are on.
pub fn phase(what: &str, since: Instant) {
    if on() {
        eprintln!(
            "timing: {what} {:.1} ms",
            since.elapsed().as_secs_f64() * 1000.0
        );
    }
}
