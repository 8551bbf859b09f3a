//! `rocmforge list`: the models in the cache, with the name `-m` takes, size and path.

use std::process::ExitCode;

use model::cache;

use crate::format::{self, Align, Table};

/// Runs `list`.
pub fn run() -> anyhow::Result<ExitCode> {
    let dir = cache::models_dir()?;
    let models = cache::list_in(&dir)?;
    if models.is_empty() {
        println!(
            "no models in {} (run `cargo xtask fetch-models` or `rocmforge pull USER/REPO:QUANT`)",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("SIZE", Align::Right),
        ("PATH", Align::Left),
    ]);
    for m in &models {
        table.row(vec![
            m.name.clone(),
            format::bytes(m.size),
            m.path.display().to_string(),
        ]);
    }
    print!("{}", table.render(0));
    Ok(ExitCode::SUCCESS)
}
