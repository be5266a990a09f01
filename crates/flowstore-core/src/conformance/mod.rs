//! The shared conformance suite and test doubles (feature `conformance`).
//!
//! **Not a stable API**: the suite grows with the contract. Only test code should
//! enable this feature.
//!
//! Every backend and wrapper runs the whole suite with one macro call, which
//! expands into one `#[test]` per case (so a failure names the case), run once on
//! the store itself and once through `Arc<dyn Store>`:
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate. The expression is evaluated once
//! // per case and gives a factory: a function from a namespace to a store.
//! // Stores opened by one factory share one backend (file, server), so the
//! // namespace cases really test isolation.
//! use flowstore_core::{conformance_tests, Namespace};
//! use flowstore_memory::MemoryStore;
//!
//! conformance_tests!({
//!     let shared = MemoryStore::new();
//!     move |ns: Namespace| {
//!         let store = shared.with_namespace(ns);
//!         async move { Ok(store) }
//!     }
//! });
//! ```
//!
//! A server-backed suite passes attributes to every case, e.g.
//! `conformance_tests!(#[ignore = "needs FLOWSTORE_TEST_REDIS_URL"] factory)`, and
//! its factory panics when the server is not configured, so the suite is visibly
//! not run by a plain `cargo test` and fails when forced without its server.

pub mod cases;
pub mod doubles;
mod factory;
pub mod faults;
pub mod layers;
pub mod rt;

pub use factory::{DynFactory, StoreFactory, unique_namespace};

/// Expands into one test per conformance case, once for the store itself (module
/// `conformance::direct`) and once through `Arc<dyn Store>` (`conformance::dyn_store`).
///
/// The argument is an expression evaluated once per test that yields a
/// [`StoreFactory`] — usually a closure `move |ns: Namespace| async move { … }`
/// returning `Result<impl Store>`. Leading `#[…]` attributes are applied to every test.
#[macro_export]
macro_rules! conformance_tests {
    // Attributes are peeled off one at a time: `#[…] expr` would otherwise parse as
    // an expression with an attribute.
    (@attrs [$($attrs:tt)*] #[$meta:meta] $($rest:tt)+) => {
        $crate::conformance_tests!(@attrs [$($attrs)* #[$meta]] $($rest)+);
    };
    (@attrs [$($attrs:tt)*] $factory:expr) => {
        $crate::__conformance_cases!(
            [$($attrs)*] [$factory]
            absent_key_is_none
            set_then_get_round_trips
            overwrite_replaces_value
            second_client_reads_your_writes
            odd_keys_round_trip
            similar_keys_do_not_collide
            longest_keys_round_trip
            binary_value_round_trips
            empty_value_is_not_absent
            values_of_many_sizes_round_trip
            one_mib_value_round_trips
            max_size_value_round_trips
            oversized_value_is_rejected_and_old_value_kept
            empty_key_is_invalid
            overlong_key_is_invalid
            nul_key_is_invalid
            non_utf8_key_is_invalid
            delete_removes_value
            delete_missing_is_ok
            delete_only_touches_its_key
            ttl_entry_is_readable_before_expiry
            ttl_entry_lives_most_of_its_ttl
            ttl_entry_expires
            sweep_leaves_unexpired_entries
            plain_set_clears_earlier_ttl
            ttl_set_replaces_plain_entry
            ttl_extremes_are_accepted
            namespaces_are_isolated
            prefix_namespaces_are_isolated
            glob_namespaces_are_isolated
            like_namespaces_are_isolated
            separator_cannot_be_ambiguous
            namespace_and_key_do_not_run_together
            delete_only_touches_its_namespace
            clear_removes_every_key_of_namespace
            clear_leaves_other_namespaces
            clear_on_empty_namespace_is_ok
            store_is_usable_after_clear
            ping_is_ok
            concurrent_tasks_on_distinct_keys
            concurrent_tasks_on_one_key
            sequential_writes_apply_in_order
            text_and_json_helpers_round_trip
            non_utf8_text_is_corrupt_not_absent
            entry_reads_value_version_and_expiry
            versions_change_on_every_write
            recreated_key_gets_a_new_version
            stale_version_conflicts_and_keeps_value
            absent_condition_on_present_key_conflicts
            delete_if_removes_only_at_its_version
            expired_entry_is_absent_for_conditions
            conditional_writes_honour_ttl
            retried_conditional_write_is_not_a_conflict
            oversized_conditional_write_writes_nothing
            racing_conditional_writes_have_one_winner
            read_modify_write_counter_is_exact
            listing_pages_through_every_key
            listing_prefixes_are_literal
            listing_shows_versions_expiry_and_size
            listing_during_writes_shows_unchanged_keys
            listing_cursor_resumes_from_a_fresh_store
            delete_prefix_removes_only_its_keys
            batch_get_answers_in_request_order
            batch_set_and_delete_apply_each_entry
            batch_over_the_limits_writes_nothing
            touch_changes_ttl_and_keeps_value
        );
    };
    ($($input:tt)+) => {
        $crate::conformance_tests!(@attrs [] $($input)+);
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($attrs:tt $factory:tt $($case:ident)*) => {
        #[allow(unreachable_pub, missing_docs)]
        mod conformance {
            #[allow(unused_imports)]
            use super::*;

            mod direct {
                #[allow(unused_imports)]
                use super::*;
                $( $crate::__conformance_case!($attrs $factory $case (|factory| factory)); )*
            }

            mod dyn_store {
                #[allow(unused_imports)]
                use super::*;
                $( $crate::__conformance_case!($attrs $factory $case (|factory| $crate::conformance::DynFactory(factory))); )*
            }
        }
    };
}

/// Implementation detail of [`conformance_tests!`]: one test. Natively a plain
/// `#[test]` on its own tokio runtime; on `wasm32` an async `#[wasm_bindgen_test]`
/// (the crate running the suite then needs `wasm-bindgen-test` as a dev-dependency).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case {
    ([$(#[$meta:meta])*] [$factory:expr] $case:ident (|$f:ident| $wrap:expr)) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        $(#[$meta])*
        fn $case() {
            let $f = $factory;
            let factory = $wrap;
            $crate::conformance::rt::block_on($crate::conformance::cases::$case(&factory));
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        $(#[$meta])*
        async fn $case() {
            let $f = $factory;
            let factory = $wrap;
            $crate::conformance::cases::$case(&factory).await;
        }
    };
}
