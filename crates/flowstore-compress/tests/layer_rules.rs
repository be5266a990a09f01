//! The layer rule for value-transforming wrappers (docs/architecture.md): every
//! operation that carries a value hands the inner store only framed values.

use flowstore_compress::CompressLayer;
use flowstore_core::conformance::layers::assert_transforms_every_value;

#[tokio::test]
async fn every_value_reaching_the_inner_store_is_framed() {
    // The envelope's magic: FF "fsz".
    assert_transforms_every_value(&CompressLayer::new(), |stored| {
        stored.starts_with(b"\xFFfsz")
    })
    .await;
}
