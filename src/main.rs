//! `warmline`: see `warmline --help`.

use clap::Parser;

/// mimalloc: a turn allocates many short-lived strings across threads, where glibc's
/// allocator spent ~15% of CPU under load (see benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = warmline::cli::Cli::parse();
    warmline::telemetry::init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warmline::cli::notice(&format!("error: cannot start the async runtime: {e}\n"));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(warmline::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            warmline::cli::notice(&format!("error: {e:#}\n"));
            std::process::ExitCode::FAILURE
        }
    }
}
