//! The semantic model (being written; see issue 3).

use crate::diagnostics::Diagnostic;
use crate::syntax::Dockerfile;
use crate::CheckOptions;

/// What a Dockerfile means.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds the model and runs the checks.
pub fn analyze(_text: &str, _file: &Dockerfile, _options: &CheckOptions) -> Model {
    Model::default()
}
