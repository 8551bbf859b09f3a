//! Developer tasks run as `cargo xtask <task>`.

fn main() {
    eprintln!("usage: cargo xtask <task>");
}
