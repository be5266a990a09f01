//! The README's example, run in a real browser (rustdoc cannot run doctests on
//! wasm32; natively the README example compiles to nothing). Keep the two in step.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

async fn example() -> flowstore_core::Result<()> {
    use flowstore_browser::{IndexedDbStore, LocalStorageStore};
    use flowstore_core::{Key, Namespace, Store, StoreExt, Ttl};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
    struct Checkout {
        step: u8,
        email: String,
    }

    let store = LocalStorageStore::new()?.with_namespace(Namespace::new("shop")?);
    let key = Key::new("checkout")?;

    let state: Checkout = store.get_json(&key).await?.unwrap_or_default();

    let next = Checkout {
        step: state.step + 1,
        email: "ada@example.org".into(),
    };
    store
        .set_json(&key, &next, Some(Ttl::from_secs(7 * 24 * 3600)?))
        .await?;
    assert_eq!(store.get_json::<Checkout>(&key).await?, Some(next));

    let files = IndexedDbStore::builder()
        .database("shop")
        .namespace(Namespace::new("uploads")?)
        .open()
        .await?;
    files
        .set(&Key::new("avatar.png")?, &[0x89, b'P', b'N', b'G'], None)
        .await?;
    store.clear().await?;
    files.clear().await?;
    Ok(())
}

#[wasm_bindgen_test]
async fn readme_example_runs() {
    example().await.unwrap();
}
