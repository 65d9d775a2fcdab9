//! The `server` binary: reads the configuration, starts logging and runs Baton until SIGINT or
//! SIGTERM.

use std::process::ExitCode;

use app::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("baton: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = server::telemetry::init(&config) {
        eprintln!("baton: {err}");
        return ExitCode::from(2);
    }
    let application = match server::Application::build(config).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!("start-up failed: {err:#}");
            eprintln!("baton: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until(server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("server failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}
