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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limit_is_sixteen_mebibytes() {
        // SPEC §2 names the figure; stores and the HTTP body limit rely on it.
        assert_eq!(DEFAULT_MAX_VALUE_SIZE, 16 << 20);
    }

    #[test]
    fn the_limit_itself_is_allowed_one_more_byte_is_not() {
        assert!(check_value_size(&[0; 8], 8).is_ok());
        let err = check_value_size(&[0; 9], 8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
        assert_eq!(
            err.to_string(),
            "value_too_large: value is 9 bytes, this store's limit is 8 bytes"
        );
    }
}
