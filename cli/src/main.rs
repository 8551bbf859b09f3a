//! The `rocmforge` binary.

fn main() {
    println!("rocmforge {}", env!("CARGO_PKG_VERSION"));
}
