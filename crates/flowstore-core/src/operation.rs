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
    /// `list`: one page of keys by prefix
    List,
    /// `delete_prefix`: removes every key with a prefix
    DeletePrefix,
    /// `get_many`: a batch read
    GetMany,
    /// `set_many`: a batch write
    SetMany,
    /// `delete_many`: a batch delete
    DeleteMany,
    /// `touch`: a TTL change without a rewrite of the value
    Touch,
    /// `acknowledge_data_loss`: ends a backend's data lost state
    AcknowledgeDataLoss,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 15] = [
        Operation::Get,
        Operation::Set,
        Operation::Delete,
        Operation::Clear,
        Operation::Ping,
        Operation::GetEntry,
        Operation::SetIf,
        Operation::DeleteIf,
        Operation::List,
        Operation::DeletePrefix,
        Operation::GetMany,
        Operation::SetMany,
        Operation::DeleteMany,
        Operation::Touch,
        Operation::AcknowledgeDataLoss,
    ];

    /// The operation's name: `get`, `set`, `delete`, `clear`, `ping`,
    /// `get_entry`, `set_if`, `delete_if`, `list`, `delete_prefix`, `get_many`,
    /// `set_many`, `delete_many`, `touch`, `acknowledge_data_loss`.
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
            Operation::List => "list",
            Operation::DeletePrefix => "delete_prefix",
            Operation::GetMany => "get_many",
            Operation::SetMany => "set_many",
            Operation::DeleteMany => "delete_many",
            Operation::Touch => "touch",
            Operation::AcknowledgeDataLoss => "acknowledge_data_loss",
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
                | Operation::DeletePrefix
                | Operation::SetMany
                | Operation::DeleteMany
                | Operation::Touch
                | Operation::AcknowledgeDataLoss
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
