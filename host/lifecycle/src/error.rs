//! The engine's errors, with stable codes the API maps to HTTP in one place.

use provisio_directory::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    IllegalTransition(String),
    #[error("{0}")]
    Mapping(String),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Store(e) => e.code(),
            EngineError::Invalid(_) => "invalid",
            EngineError::IllegalTransition(_) => "illegal-transition",
            EngineError::Mapping(_) => "mapping-failed",
        }
    }
}
