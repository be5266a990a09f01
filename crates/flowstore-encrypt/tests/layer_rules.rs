//! The layer rule for value-transforming wrappers (docs/architecture.md): every
//! operation that carries a value hands the inner store only sealed envelopes.

use flowstore_core::conformance::layers::assert_transforms_every_value;
use flowstore_encrypt::{EncryptLayer, EncryptionKey, Keyring};

#[tokio::test]
async fn every_value_reaching_the_inner_store_is_sealed() {
    let layer = EncryptLayer::new(Keyring::new(1, EncryptionKey::generate().unwrap()));
    // The envelope's magic: FF "fse".
    assert_transforms_every_value(&layer, |stored| stored.starts_with(b"\xFFfse")).await;
}
