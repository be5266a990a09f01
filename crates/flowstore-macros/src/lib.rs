#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use proc_macro::TokenStream;

/// `#[async_trait]` on native targets, `#[async_trait(?Send)]` on `wasm32`.
///
/// The choice is made by `cfg_attr` in the crate that uses the attribute, so it
/// follows that crate's target, not the host the macro runs on. With `?Send` as
/// its argument the attribute is `#[async_trait(?Send)]` everywhere.
#[proc_macro_attribute]
pub fn async_trait(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("::flowstore_core::__private::async_trait", args, item)
}

/// The same attribute as re-exported by the `flowstore` facade, for crates that
/// depend on the facade and not on `flowstore-core` (a proc macro cannot name
/// "the crate that re-exported me", so each re-exporter has its own entry).
#[doc(hidden)]
#[proc_macro_attribute]
pub fn facade_async_trait(args: TokenStream, item: TokenStream) -> TokenStream {
    expand("::flowstore::__private::async_trait", args, item)
}

/// `item` behind the `cfg_attr` pair that applies the `async_trait` at `path`.
fn expand(path: &str, args: TokenStream, item: TokenStream) -> TokenStream {
    let args = args.to_string();
    let attributes = match args.split_whitespace().collect::<String>().as_str() {
        "" => format!(
            "#[cfg_attr(not(target_arch = \"wasm32\"), {path})] \
             #[cfg_attr(target_arch = \"wasm32\", {path}(?Send))]"
        ),
        "?Send" => format!("#[{path}(?Send)]"),
        _ => {
            return "::core::compile_error!(\"flowstore_core::async_trait takes no argument or `?Send`\");"
                .parse()
                .expect("a valid token stream")
        }
    };
    let mut expanded: TokenStream = attributes.parse().expect("valid attributes");
    expanded.extend(item);
    expanded
}
