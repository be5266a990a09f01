//! The CPU time this process has used, to report what one operation costs the
//! client.
//!
//! Throughput on a small shared machine swings with whatever else runs there;
//! the client's CPU time per operation moves much less, and on a machine where
//! client and server share the cores it is what a faster client saves.

use std::time::Duration;

/// Ticks per second of the times in `/proc/self/stat` (`USER_HZ`: 100 on x86,
/// ARM and the other architectures this tool is built for; `sysconf` would be
/// the portable source, at the price of `unsafe` code).
const USER_HZ: u64 = 100;

/// User plus system CPU time of every thread of this process so far, exited
/// threads included (Linux only; `None` elsewhere or if it cannot be read).
/// Its resolution is 10 ms, so it is meaningful for runs of a second or more.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

/// `utime + stime` from the text of `/proc/<pid>/stat`. The command name (field
/// 2) is in parentheses and may itself contain spaces and `)`, so fields are
/// counted from the last `)`: after it come field 3 (state) onwards, and
/// `utime` / `stime` are fields 14 and 15.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_the_command_name() {
        let stat = "4242 (flow store) bench)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 50 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_stat("no parenthesis here"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_cpu_time().is_some());
    }
}
