//! Structured logging with `tracing`.

use app::config::{Config, LogFormat};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `BATON_LOG` is not a valid filter.
    #[error("invalid setting BATON_LOG = {value:?}: {reason}")]
    BadFilter {
        /// The filter as given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("logging already initialised")]
    AlreadyInitialised,
}

/// Installs the global subscriber: the `BATON_LOG` filter, text or JSON lines on stderr.
pub fn init(config: &Config) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&config.log)
        .map_err(|e| TelemetryError::BadFilter { value: config.log.clone(), reason: e.to_string() })?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.log_format {
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_writer(std::io::stderr))
            .try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInitialised)
}
