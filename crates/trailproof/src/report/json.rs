//! The JSON report: the [`doc`](super::doc) types serialised (layout version [`JSON_VERSION`]).

use serde_json::Value;

use super::doc::{ChainDoc, EntryDoc, RunDoc, RunHead};
use super::*;

impl DigestOutcome {
    /// More about the verdict than its message, when there is more.
    pub(crate) fn detail(&self) -> Option<String> {
        match self {
            DigestOutcome::InvalidFormat { reason }
            | DigestOutcome::NotVerified { reason }
            | DigestOutcome::TooLarge { reason } => Some(reason.clone()),
            DigestOutcome::KeyNotValid { validity, .. } => Some(validity.clone()),
            DigestOutcome::Moved { claimed } => Some(format!("the digest names {claimed}")),
            DigestOutcome::Other { message } => Some(message.clone()),
            DigestOutcome::Unreadable { cause } => Some(cause.clone()),
            _ => None,
        }
    }
}

impl Report {
    /// The report's document, every entry kept included.
    pub fn to_doc(&self) -> ChainDoc {
        let mut doc = ChainDoc::head_of(self);
        doc.entries = Some(self.entries.iter().map(EntryDoc::from).collect());
        doc
    }

    /// The JSON report: the chain, every entry kept, findings, and the summary (schema in
    /// README.md).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.to_doc()).unwrap_or(Value::Null)
    }

    /// The document of several chains, each entry once: the totals, and each chain's own.
    pub fn chains_to_doc(reports: &[Report]) -> Option<RunDoc> {
        Some(RunDoc {
            head: RunHead::of(reports)?,
            chains: reports.iter().map(Report::to_doc).collect(),
        })
    }
}
