//! The operations of a [`Store`](crate::Store), named: for errors' context,
//! for layers that observe or guard calls, and for metrics labels.

use std::fmt;

/// A store operation.
///
/// Every operation of [`Store`](crate::Store) has a variant here, and every
/// variant is exercised by the layer tests in this crate: adding an operation to
/// the trait means adding it here first, and those tests do not compile until
/// they cover it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `get`
    Get,
    /// `set` (with or without TTL)
    Set,
    /// `delete`
    Delete,
    /// `clear`
    Clear,
    /// `ping`: the health probe, which reads no user data
    Ping,
    /// `get_entry`: a read of value, entry version and expiry
    GetEntry,
    /// `set_if`: a conditional write
    SetIf,
    /// `delete_if`: a conditional delete
    DeleteIf,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 8] = [
        Operation::Get,
        Operation::Set,
        Operation::Delete,
        Operation::Clear,
        Operation::Ping,
        Operation::GetEntry,
        Operation::SetIf,
        Operation::DeleteIf,
    ];

    /// The operation's name: `get`, `set`, `delete`, `clear`, `ping`,
    /// `get_entry`, `set_if`, `delete_if`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Set => "set",
            Operation::Delete => "delete",
            Operation::Clear => "clear",
            Operation::Ping => "ping",
            Operation::GetEntry => "get_entry",
            Operation::SetIf => "set_if",
            Operation::DeleteIf => "delete_if",
        }
    }
}

impl Operation {
    /// Whether the operation writes (and so its outcome is unknown when its
    /// answer is lost).
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Operation::Set
                | Operation::Delete
                | Operation::Clear
                | Operation::SetIf
                | Operation::DeleteIf
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
