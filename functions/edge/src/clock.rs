//! The platform clock. The plain-Rust crates take time as an argument; this is where the
//! Worker reads it.

/// Milliseconds since the epoch.
pub fn now_millis() -> u64 {
    worker::Date::now().as_millis()
}

/// Seconds since the epoch, as JWT claims count time.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}
