//! flowstore's CI and maintenance tasks. Run `cargo xtask help`.

fn main() {
    println!("xtask: not yet");
}
