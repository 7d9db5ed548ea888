//! One invocation: which trigger sent it, and what becomes of each message in it. Every
//! message goes through [`WatchSession::handle`], the sweep through [`WatchSession::sweep`]:
//! the checks, head advances, lines and alerts are `trailproof watch`'s own.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::{json, Value};
use trailproof_run::{WatchOutcome, WatchSession};

/// Why an invocation failed as a whole. Lambda then retries it (an asynchronous EventBridge
/// invocation, after which its on-failure destination takes it) or, for an SQS batch, makes
/// every message of it visible again.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A payload that is none of the events the function is wired to.
    #[error("unrecognised event ({what}): expected an SQS batch, an S3 notification, an EventBridge \"Object Created\" event or a \"Scheduled Event\"")]
    Unrecognised {
        /// What it looked like.
        what: String,
    },
    /// A payload of a known shape whose fields could not be read.
    #[error("{kind} event: {source}")]
    Malformed {
        /// The trigger it claimed to come from.
        kind: &'static str,
        /// The field that could not be read.
        source: serde_json::Error,
    },
    /// An SQS record without a message id cannot be named as a batch item failure.
    #[error("SQS record {index} has no messageId: the whole batch is left for redelivery")]
    NoMessageId {
        /// Its place in the batch.
        index: usize,
    },
    /// An object event whose result is not recorded (the check could not be carried out, the
    /// head or the alert not written): failing the invocation brings it back.
    #[error("{name}: result not recorded ({verdict}); see the function's log lines")]
    NotRecorded {
        /// The event, as its `error` or `digest` line names it.
        name: String,
        /// The verdict of its lines.
        verdict: &'static str,
    },
    /// The watch itself failed (standard output unwritable, an internal fault).
    #[error("{0}")]
    Watch(String),
}

/// What invoked the function.
#[derive(Debug)]
pub enum Invocation {
    /// A batch from the SQS queue the bucket's notifications go to.
    Sqs(SqsEvent),
    /// One object event delivered to the function itself: an EventBridge "Object Created"
    /// event, or an S3 notification (`S3Event`).
    Object {
        /// How the lines name it.
        name: String,
        /// The event as it came, for [`WatchSession::handle`].
        body: String,
    },
    /// The schedule: a sweep.
    Scheduled,
}

/// Tells the triggers apart by the fields each one has: `Records` with `eventSource`
/// `aws:sqs` or `aws:s3`; EventBridge's `source` and `detail-type`.
pub fn classify(payload: Value) -> Result<Invocation, HandlerError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return match source {
            "aws:sqs" => serde_json::from_value(payload)
                .map(Invocation::Sqs)
                .map_err(|source| HandlerError::Malformed {
                    kind: "SQS",
                    source,
                }),
            "aws:s3" => Ok(Invocation::Object {
                name: "S3 notification".to_owned(),
                body: payload.to_string(),
            }),
            other => Err(HandlerError::Unrecognised {
                what: format!("Records from {other:?}"),
            }),
        };
    }
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(payload.clone()).map_err(|source| HandlerError::Malformed {
                kind: "EventBridge",
                source,
            })?;
        return match (event.source.as_str(), event.detail_type.as_str()) {
            ("aws.events" | "aws.scheduler", "Scheduled Event") => Ok(Invocation::Scheduled),
            ("aws.s3", _) => Ok(Invocation::Object {
                name: format!(
                    "EventBridge event {}",
                    event.id.as_deref().unwrap_or("without an id")
                ),
                body: payload.to_string(),
            }),
            (source, detail_type) => Err(HandlerError::Unrecognised {
                what: format!("EventBridge {detail_type:?} from {source:?}"),
            }),
        };
    }
    let what = match &payload {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(5).map(String::as_str).collect();
            format!("an object with {}", keys.join(", "))
        }
        Value::Null => "null".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Number(_) | Value::Bool(_) => "a scalar".to_owned(),
    };
    Err(HandlerError::Unrecognised { what })
}

fn verdict(outcome: Option<WatchOutcome>) -> Value {
    outcome.map_or(Value::Null, |o| json!(o.as_str()))
}

/// Runs one invocation on the session and prints the summary of its activity. The response:
/// for SQS, `{"batchItemFailures": [...]}` naming every message whose result is not recorded
/// (SQS makes those visible again, and after `maxReceiveCount` moves them to the dead-letter
/// queue); otherwise `{"verdict": ...}`.
pub fn process(session: &mut WatchSession, invocation: Invocation) -> Result<Value, HandlerError> {
    let watch = |e: trailproof::Error| HandlerError::Watch(trailproof_run::error_message(&e));
    let response = match invocation {
        Invocation::Sqs(event) => {
            // Checked before anything is processed: without an id a failure cannot be named,
            // and Lambda would take the whole batch as processed or failed.
            let mut ids = Vec::with_capacity(event.records.len());
            for (index, record) in event.records.iter().enumerate() {
                match record.message_id.as_deref().filter(|id| !id.is_empty()) {
                    Some(id) => ids.push(id.to_owned()),
                    None => return Err(HandlerError::NoMessageId { index }),
                }
            }
            let mut response = SqsBatchResponse::default();
            for (record, id) in event.records.iter().zip(ids) {
                // An invalid digest is recorded (its line and alert are out, the head kept):
                // it is not a failure, since its redelivery would only repeat the alert. What
                // could not be checked, or recorded, comes back.
                let body = record.body.as_deref().unwrap_or("");
                let recorded = match session.handle(body, &format!("sqs message {id}")) {
                    Ok(handled) => handled.recorded,
                    Err(e) => {
                        eprintln!("trailproof-lambda: sqs message {id}: {}", watch(e));
                        false
                    }
                };
                if !recorded {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
            serde_json::to_value(response).map_err(|source| HandlerError::Malformed {
                kind: "SQS response",
                source,
            })?
        }
        Invocation::Object { name, body } => {
            let handled = session.handle(&body, &name).map_err(watch)?;
            if !handled.recorded {
                session.summary().map_err(watch)?;
                return Err(HandlerError::NotRecorded {
                    name,
                    verdict: handled.outcome.unwrap_or(WatchOutcome::NotChecked).as_str(),
                });
            }
            json!({"verdict": verdict(handled.outcome)})
        }
        Invocation::Scheduled => {
            let outcome = session.sweep().map_err(watch)?;
            json!({"sweep": verdict(outcome)})
        }
    };
    session.summary().map_err(watch)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unrecognised(payload: Value) -> String {
        match classify(payload) {
            Err(e @ HandlerError::Unrecognised { .. }) => e.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn triggers_are_told_apart() {
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "{}"}]});
        assert!(matches!(classify(sqs), Ok(Invocation::Sqs(e)) if e.records.len() == 1));
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]});
        assert!(matches!(classify(s3), Ok(Invocation::Object { .. })));
        let created = json!({"id": "e1", "source": "aws.s3", "detail-type": "Object Created",
                             "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}});
        assert!(
            matches!(classify(created), Ok(Invocation::Object { name, .. }) if name == "EventBridge event e1")
        );
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                               "detail": {}, "time": "2024-03-01T10:00:00Z"});
        assert!(matches!(classify(scheduled), Ok(Invocation::Scheduled)));
    }

    #[test]
    fn anything_else_is_an_error_naming_what_came() {
        assert!(unrecognised(json!(null)).contains("(null)"));
        assert!(unrecognised(json!([1])).contains("an array"));
        assert!(unrecognised(json!({"hello": 1})).contains("hello"));
        assert!(
            unrecognised(json!({"Records": [{"eventSource": "aws:kinesis"}]}))
                .contains("aws:kinesis")
        );
        assert!(unrecognised(
            json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}})
        )
        .contains("aws.ec2"));
        // A known shape with a field of the wrong type.
        let bad = classify(json!({"Records": [{"eventSource": "aws:sqs", "messageId": 5}]}));
        assert!(
            matches!(&bad, Err(HandlerError::Malformed { kind: "SQS", .. })),
            "{bad:?}"
        );
        let bad = classify(json!({"source": 1, "detail-type": "Scheduled Event"}));
        assert!(
            matches!(
                &bad,
                Err(HandlerError::Malformed {
                    kind: "EventBridge",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}
