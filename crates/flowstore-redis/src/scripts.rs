//! The server-side Lua scripts of the versioned operations (and the data-loss
//! markers' compare-and-set), and how they are
//! sent: `EVALSHA`, and `EVAL` once on a server that does not know the script
//! yet (`NOSCRIPT`: first use, a restart, `SCRIPT FLUSH`, a new cluster node),
//! which also caches it there. Each script touches one key, passed in `KEYS`,
//! so a cluster routes it to the key's node and it never spans slots.
//!
//! The hashes are written down rather than computed, which would need a SHA-1
//! dependency for a few constants; a server test checks each one against the
//! hash `SCRIPT LOAD` answers, so a script edited without its hash fails there
//! instead of quietly costing an `EVAL` on every call.

use fred::clients::Client;
use fred::error::Error as FredError;
use fred::interfaces::LuaInterface;
use fred::types::{Key, Value};

/// One script: its source and the SHA-1 of that source.
#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) source: &'static str,
    pub(crate) sha1: &'static str,
}

/// Reads value, version and expiry (`scripts/get_entry.lua`).
pub(crate) const GET_ENTRY: Script = Script {
    source: concat!(
        include_str!("scripts/header.lua"),
        include_str!("scripts/get_entry.lua")
    ),
    sha1: "af75adad40883d660a8fd4d898d1e7158d6402ec",
};

/// The conditional write (`scripts/set_if.lua`).
pub(crate) const SET_IF: Script = Script {
    source: concat!(
        include_str!("scripts/header.lua"),
        include_str!("scripts/set_if.lua")
    ),
    sha1: "8ca40362ee8f6ffec2201a874021ee012ce58d02",
};

/// The conditional delete (`scripts/delete_if.lua`).
pub(crate) const DELETE_IF: Script = Script {
    source: concat!(
        include_str!("scripts/header.lua"),
        include_str!("scripts/delete_if.lua")
    ),
    sha1: "f808d5179c7ea6a4f5a18691af19228502db2fab",
};

/// Reads what a listing shows of one key (`scripts/list_item.lua`).
pub(crate) const LIST_ITEM: Script = Script {
    source: concat!(
        include_str!("scripts/header.lua"),
        include_str!("scripts/list_item.lua")
    ),
    sha1: "652d28060195bbe4e5ee7e830795cfec4119e523",
};

/// Gives an entry a new version and TTL, keeping its value (`scripts/touch.lua`).
pub(crate) const TOUCH: Script = Script {
    source: concat!(
        include_str!("scripts/header.lua"),
        include_str!("scripts/touch.lua")
    ),
    sha1: "c03ddee4f42e442195993fe39cb8d758d8b04f35",
};

/// Writes the data lost value into a data-loss marker only if it still holds
/// what the detector read (`scripts/mark_lost.lua`; see [`marker`](crate::marker)).
pub(crate) const MARK_LOST: Script = Script {
    source: include_str!("scripts/mark_lost.lua"),
    sha1: "3eea0122e9b909dc30b6a74e626204c36a2342e0",
};

impl Script {
    /// Runs the script on `key` with `args`: one round trip when the server
    /// has it cached, two the first time.
    pub(crate) async fn run(
        &'static self,
        client: Client,
        key: Key,
        args: Vec<Value>,
    ) -> Result<Value, FredError> {
        match client
            .evalsha::<Value, _, _, _>(self.sha1, key.clone(), args.clone())
            .await
        {
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                client.eval(self.source, key, args).await
            }
            result => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisStore;

    /// The written-down hashes are the sources' hashes, as the server computes
    /// them: otherwise every call would pay a failed `EVALSHA` before `EVAL`.
    #[tokio::test]
    #[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
    async fn hashes_match_the_sources() {
        let url =
            std::env::var("FLOWSTORE_TEST_REDIS_URL").expect("FLOWSTORE_TEST_REDIS_URL is not set");
        let store = RedisStore::open(&url).await.unwrap();
        for script in [
            &GET_ENTRY, &SET_IF, &DELETE_IF, &LIST_ITEM, &TOUCH, &MARK_LOST,
        ] {
            let hash: String = store.client().script_load(script.source).await.unwrap();
            assert_eq!(hash, script.sha1, "{}", script.source);
        }
    }
}
