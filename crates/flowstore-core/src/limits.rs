//! The value-size rule, checked in this one place by every store's `set`.

use crate::error::{Error, ErrorKind, Result};

/// The default maximum value size: 16 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 * 1024 * 1024;

/// `ValueTooLarge` when `value` is longer than `max` bytes. Call it before
/// writing anything, so an oversized value leaves stored data untouched.
pub fn check_value_size(value: &[u8], max: usize) -> Result<()> {
    if value.len() > max {
        return Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!(
                "value is {} bytes, this store's limit is {max} bytes",
                value.len()
            ),
        ));
    }
    Ok(())
}
