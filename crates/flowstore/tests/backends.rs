//! The server backends through `flowstore::open`: each scheme's "feature off"
//! error (in a build without the feature, e.g. a plain `cargo test`), URL
//! checks that need no server, and round trips against real servers.
//!
//! The server cases are `#[ignore = "needs FLOWSTORE_TEST_…"]`: run them with
//! `cargo test -p flowstore --all-features -- --include-ignored` and the
//! variables set (`cargo xtask ci` does both); forced without a variable they
//! panic, they never pass by skipping.

#![allow(dead_code)]

use flowstore::{ErrorKind, Key, Namespace, OpenOptions, Store};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// The variable's value, or a panic naming it.
fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: this test needs a server"))
}

/// A namespace no other test or run uses.
fn unique_namespace(label: &str) -> Namespace {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Namespace::new(format!("facade-{label}-{}-{nanos}", std::process::id())).unwrap()
}

/// Asserts that opening `url` fails with a `Config` error naming `feature`
/// and not leaking the URL's password.
async fn assert_feature_off(url: &str, feature: &str) {
    let err = flowstore::open(url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("cargo feature `{feature}`")),
        "{url}: {message}"
    );
    assert!(message.contains("not enabled"), "{url}: {message}");
    assert!(!message.contains("hunter2"), "password leaked: {message}");
}

/// Writes through one opened store, reads through a second one (another
/// client of the same server), checks namespaces are kept apart, then clears.
async fn round_trip_through_two_opens(url: &str, label: &str) {
    let namespace = unique_namespace(label);
    let options = OpenOptions::new().namespace(namespace.clone());
    let writer = flowstore::open_with(url, &options).await.unwrap();
    assert_eq!(writer.namespace(), &namespace);
    writer
        .set(&key("signup:42"), br#"{"step":2}"#, None)
        .await
        .unwrap();

    let reader = flowstore::open_with(url, &options).await.unwrap();
    assert_eq!(
        reader.get(&key("signup:42")).await.unwrap(),
        Some(br#"{"step":2}"#.to_vec())
    );
    let other = flowstore::open_with(
        url,
        &OpenOptions::new().namespace(unique_namespace(&format!("{label}-other"))),
    )
    .await
    .unwrap();
    assert_eq!(other.get(&key("signup:42")).await.unwrap(), None);

    reader.clear().await.unwrap();
    assert_eq!(writer.get(&key("signup:42")).await.unwrap(), None);
}

#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_feature_off() {
    assert_feature_off("postgres://app:hunter2@db.example/state", "postgres").await;
    assert_feature_off("postgresql://app:hunter2@db.example/state", "postgres").await;
}

#[cfg(not(feature = "redis"))]
#[tokio::test]
async fn redis_feature_off() {
    for url in [
        "redis://:hunter2@cache.example:6379/0",
        "rediss://:hunter2@cache.example:6380",
        "redis-cluster://:hunter2@a.example:7000,b.example:7001",
        "rediss-cluster://a.example:7000",
        "redis-sentinel://:hunter2@s.example:26379/mymaster",
        "rediss-sentinel://s.example:26379/mymaster",
    ] {
        assert_feature_off(url, "redis").await;
    }
}

#[cfg(not(feature = "http"))]
#[tokio::test]
async fn http_feature_off() {
    assert_feature_off("http://127.0.0.1:8080", "http").await;
    assert_feature_off("https://state.example/api", "http").await;
}

#[test]
fn available_schemes_follow_the_backend_features() {
    let schemes = flowstore::available_schemes();
    for (scheme, on) in [
        ("postgres", cfg!(feature = "postgres")),
        ("postgresql", cfg!(feature = "postgres")),
        ("redis", cfg!(feature = "redis")),
        ("rediss", cfg!(feature = "redis")),
        ("redis-cluster", cfg!(feature = "redis")),
        ("rediss-cluster", cfg!(feature = "redis")),
        ("redis-sentinel", cfg!(feature = "redis")),
        ("rediss-sentinel", cfg!(feature = "redis")),
        ("http", cfg!(feature = "http")),
        ("https", cfg!(feature = "http")),
    ] {
        assert_eq!(schemes.contains(&scheme), on, "{scheme}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// Parameters are checked before anything connects.
    #[tokio::test]
    async fn bad_parameters_are_config_errors_without_a_server() {
        let err = flowstore::open("postgres://app:hunter2@127.0.0.1:1/db?colour=blue")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(!err.to_one_line().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    #[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
    async fn round_trip() {
        let url = server_url("FLOWSTORE_TEST_POSTGRES_URL");
        round_trip_through_two_opens(&url, "pg").await;
        // The `postgresql` spelling opens the same database.
        if let Some(rest) = url.strip_prefix("postgres://") {
            round_trip_through_two_opens(&format!("postgresql://{rest}"), "pgql").await;
        }
    }

    #[test]
    fn the_backend_crate_is_reexported() {
        let builder = flowstore::postgres::PostgresBuilder::from_url("postgres://h/db").unwrap();
        drop(builder);
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;

    #[tokio::test]
    async fn bad_urls_are_config_errors_without_a_server() {
        for url in [
            "redis://:hunter2@127.0.0.1:1?colour=blue",
            "redis-sentinel://127.0.0.1:1", // no service name
        ] {
            let err = flowstore::open(url).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
            assert!(!err.to_one_line().contains("hunter2"), "{err}");
        }
    }

    #[tokio::test]
    #[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
    async fn round_trip() {
        round_trip_through_two_opens(&server_url("FLOWSTORE_TEST_REDIS_URL"), "redis").await;
    }

    #[tokio::test]
    #[ignore = "needs FLOWSTORE_TEST_REDIS_CLUSTER_URL"]
    async fn cluster_round_trip() {
        round_trip_through_two_opens(&server_url("FLOWSTORE_TEST_REDIS_CLUSTER_URL"), "cluster")
            .await;
    }

    #[tokio::test]
    #[ignore = "needs FLOWSTORE_TEST_REDIS_SENTINEL_URL"]
    async fn sentinel_round_trip() {
        round_trip_through_two_opens(&server_url("FLOWSTORE_TEST_REDIS_SENTINEL_URL"), "sentinel")
            .await;
    }
}

#[cfg(feature = "http")]
mod http {
    use super::*;

    /// Opening an HTTP store does not connect; its operations report the
    /// outage as an error, never as "no saved state".
    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_none() {
        let store = flowstore::open("http://127.0.0.1:1?connect_timeout=2s")
            .await
            .unwrap();
        let err = store.get(&key("k")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_temporary());
    }

    #[tokio::test]
    async fn an_explicit_namespace_is_the_label() {
        let options = OpenOptions::new().namespace(Namespace::new("drafts").unwrap());
        let store = flowstore::open_with("http://127.0.0.1:1/api?namespace=x", &options)
            .await
            .unwrap();
        assert_eq!(store.namespace().as_str(), "drafts");
        let err = flowstore::open("http://u:hunter2@127.0.0.1:1")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(!err.to_one_line().contains("hunter2"), "{err}");
    }
}
