//! `flowstore::open` and `open_with`: schemes, parameters, namespace precedence.

use flowstore::{ErrorKind, Key, Namespace, OpenOptions, Store};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

#[tokio::test]
async fn memory_url_opens_a_fresh_store() {
    let store = flowstore::open("memory://").await.unwrap();
    assert_eq!(store.namespace().as_str(), "flow");
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));

    // Each open is a new, empty store.
    let other = flowstore::open("memory://").await.unwrap();
    assert_eq!(other.get(&key("k")).await.unwrap(), None);
}

#[tokio::test]
async fn memory_namespace_parameter_and_override() {
    let store = flowstore::open("memory://?namespace=a%2Fb").await.unwrap();
    assert_eq!(store.namespace().as_str(), "a/b");

    let options = OpenOptions::new().namespace(Namespace::new("explicit").unwrap());
    let store = flowstore::open_with("memory://?namespace=from-url", &options)
        .await
        .unwrap();
    assert_eq!(store.namespace().as_str(), "explicit");
}

#[tokio::test]
async fn memory_url_rejects_paths_and_unknown_parameters() {
    for url in [
        "memory://somewhere",
        "memory://?colour=blue",
        "memory://?namespace=",
    ] {
        let err = flowstore::open(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
}

#[tokio::test]
async fn unknown_scheme_names_the_available_ones() {
    let err = flowstore::open("ftp://user:hunter2@example.com/x")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let message = err.to_string();
    for scheme in flowstore::available_schemes() {
        assert!(message.contains(&format!("{scheme}://")), "{message}");
    }
    assert!(message.contains("\"ftp\""), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn a_url_without_scheme_is_a_config_error() {
    for url in ["", "flowstore.db", "/tmp/x.db", "sqlite:x.db"] {
        let err = flowstore::open(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url:?}");
    }
}

#[tokio::test]
async fn schemes_are_case_insensitive() {
    assert!(flowstore::open("MEMORY://").await.is_ok());
}

#[test]
fn available_schemes_follow_the_features() {
    let schemes = flowstore::available_schemes();
    assert_eq!(schemes.contains(&"memory"), cfg!(feature = "memory"));
    assert_eq!(schemes.contains(&"sqlite"), cfg!(feature = "sqlite"));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    fn url(dir: &tempfile::TempDir, params: &str) -> String {
        format!("sqlite://{}/state.db{params}", dir.path().display())
    }

    #[tokio::test]
    async fn absolute_path_persists_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = flowstore::open(&url(&dir, "")).await.unwrap();
            store.set(&key("k"), b"v", None).await.unwrap();
        }
        assert!(dir.path().join("state.db").exists());
        let store = flowstore::open(&url(&dir, "")).await.unwrap();
        assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    }

    #[tokio::test]
    async fn namespace_parameter_and_explicit_override() {
        let dir = tempfile::tempdir().unwrap();
        let in_a = flowstore::open(&url(&dir, "?namespace=a")).await.unwrap();
        assert_eq!(in_a.namespace().as_str(), "a");
        in_a.set(&key("k"), b"in a", None).await.unwrap();

        let options = OpenOptions::new().namespace(Namespace::new("b").unwrap());
        let in_b = flowstore::open_with(&url(&dir, "?namespace=a"), &options)
            .await
            .unwrap();
        assert_eq!(in_b.namespace().as_str(), "b");
        assert_eq!(in_b.get(&key("k")).await.unwrap(), None);

        let default = flowstore::open(&url(&dir, "")).await.unwrap();
        assert_eq!(default.namespace().as_str(), "flow");
        assert_eq!(default.get(&key("k")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn backend_parameters_are_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = flowstore::open(&url(&dir, "?max_value_size=4"))
            .await
            .unwrap();
        assert_eq!(store.max_value_size(), 4);
        let err = store.set(&key("k"), b"12345", None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueTooLarge);

        let err = flowstore::open(&url(&dir, "?colour=blue"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn the_backend_crate_is_reexported() {
        let builder = flowstore::sqlite::SqliteBuilder::from_url("sqlite://x.db").unwrap();
        assert_eq!(builder.path(), std::path::Path::new("x.db"));
    }
}

/// Run with `cargo test -p flowstore --no-default-features --features memory`.
#[cfg(not(feature = "sqlite"))]
#[tokio::test]
async fn a_scheme_whose_feature_is_off_names_the_feature() {
    let err = flowstore::open("sqlite://x.db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let message = err.to_string();
    assert!(message.contains("`sqlite`"), "{message}");
    assert!(message.contains("memory://"), "{message}");
    assert!(!std::path::Path::new("x.db").exists());
}
