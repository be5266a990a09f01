//! Where an instance is stored: the key of one instance and the prefix that
//! lists one flow's instances.
//!
//! The original design takes a free-form key formatter. A formatter alone
//! cannot be listed, so a [`KeyLayout`] also names the prefix under which a
//! flow's instances (and all flows) live.

use std::fmt;

use flowstore_core::{Error, Key, Prefix, Result};

use crate::model::FlowRef;

/// How instances map to keys.
pub trait KeyLayout: fmt::Debug + Send + Sync {
    /// The key of one instance.
    fn key(&self, flow: &FlowRef) -> Result<Key>;

    /// The prefix every instance of `flow_id` is stored under, and only those:
    /// listing and removing a flow go through it.
    fn flow_prefix(&self, flow_id: &str) -> Result<Prefix>;

    /// The prefix every flow is stored under (never empty: "remove all" is a
    /// prefix delete of it, so keys that are not flows are left alone).
    fn all_prefix(&self) -> Prefix;
}

/// The original design's layout: `useflow:{flowId}:{variantId}:{instanceId}`,
/// with a configurable first segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultLayout {
    prefix: String,
}

/// The first segment of the original design's keys.
pub const DEFAULT_PREFIX: &str = "useflow";

impl DefaultLayout {
    /// `useflow:{flowId}:{variantId}:{instanceId}`.
    pub fn new() -> DefaultLayout {
        DefaultLayout {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }

    /// `{prefix}:{flowId}:{variantId}:{instanceId}`. The prefix must be
    /// non-empty and free of `:`, so that it cannot swallow another prefix's keys.
    pub fn with_prefix(prefix: impl Into<String>) -> Result<DefaultLayout> {
        let prefix = prefix.into();
        if prefix.is_empty() || prefix.contains(':') {
            return Err(Error::invalid_argument(
                "a flow key prefix is non-empty and holds no ':'",
            ));
        }
        Ok(DefaultLayout { prefix })
    }

    /// The first segment.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Default for DefaultLayout {
    fn default() -> Self {
        DefaultLayout::new()
    }
}

impl KeyLayout for DefaultLayout {
    /// `{prefix}:{flowId}:{variantId}:{instanceId}`. A flow id holding `:` is
    /// refused (see [`flow_prefix`](KeyLayout::flow_prefix)); variant and
    /// instance ids may hold it, so variant `a:b` + instance `c` and variant
    /// `a` + instance `b:c` share a key: keep `:` out of variant ids.
    fn key(&self, flow: &FlowRef) -> Result<Key> {
        check_flow_id(&flow.flow_id)?;
        Key::new(format!(
            "{}:{}:{}:{}",
            self.prefix, flow.flow_id, flow.variant_id, flow.instance_id
        ))
    }

    /// `{prefix}:{flowId}:`. A flow id holding `:` is refused: the prefix of
    /// flow `a` would also take in the instances of a flow `a:b`.
    fn flow_prefix(&self, flow_id: &str) -> Result<Prefix> {
        check_flow_id(flow_id)?;
        Prefix::new(format!("{}:{flow_id}:", self.prefix))
    }

    fn all_prefix(&self) -> Prefix {
        Prefix::new(format!("{}:", self.prefix)).expect("a non-empty prefix without NUL is valid")
    }
}

fn check_flow_id(flow_id: &str) -> Result<()> {
    if flow_id.contains(':') {
        return Err(Error::invalid_argument(
            "a flow id holding ':' is refused by the default key layout: its instances could not be told from another flow's",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_are_the_original_designs() {
        let layout = DefaultLayout::new();
        let key = layout
            .key(&FlowRef::new("onboarding").instance("user-42"))
            .unwrap();
        assert_eq!(key.as_str(), "useflow:onboarding:default:user-42");
        assert_eq!(
            layout.flow_prefix("onboarding").unwrap().as_str(),
            "useflow:onboarding:"
        );
        assert_eq!(layout.all_prefix().as_str(), "useflow:");
    }

    #[test]
    fn ambiguous_prefixes_are_refused() {
        assert!(DefaultLayout::with_prefix("a:b").is_err());
        assert!(DefaultLayout::with_prefix("").is_err());
        assert!(DefaultLayout::new().flow_prefix("a:b").is_err());
        assert!(DefaultLayout::new().key(&FlowRef::new("a:b")).is_err());
        let custom = DefaultLayout::with_prefix("app").unwrap();
        assert_eq!(custom.flow_prefix("f").unwrap().as_str(), "app:f:");
    }
}
