//! `trailproof-lambda`: `trailproof watch` as an AWS Lambda function (the `bootstrap` of a
//! `provided.al2023` function). Configured by environment variables (`config.rs`, the README's
//! "Watch from AWS Lambda"); heads in S3. Invoked by:
//!
//! - the SQS queue the trail bucket's notifications go to: each record through the watch's
//!   code path, and every record whose result is not recorded named in
//!   `batchItemFailures` (`ReportBatchItemFailures`);
//! - EventBridge "Object Created" events (or S3 notifications) sent to it directly;
//! - an EventBridge schedule: the sweep, whose tail rule turns a silent chain into
//!   `TAIL MISSING`.
//!
//! The lines on standard output, CloudWatch Logs' input, are `watch`'s, with a `summary` per
//! invocation. Alerts go to the SNS topic. Unlike `watch`, it leaves SIGTERM to the Lambda
//! service: an invocation cut short is retried, and retrying changes nothing that was
//! recorded.

mod config;
mod handler;

use std::process::ExitCode;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use trailproof_run::WatchSession;

use crate::handler::HandlerError;

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Unrecognised { .. } => "Trailproof.UnrecognisedEvent",
            HandlerError::Malformed { .. } => "Trailproof.MalformedEvent",
            HandlerError::NoMessageId { .. } => "Trailproof.NoMessageId",
            HandlerError::NotRecorded { .. } => "Trailproof.NotRecorded",
            HandlerError::Watch(_) => "Trailproof.WatchFailed",
        };
        eprintln!("trailproof-lambda: {e}");
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation handed to the session's thread, with where its result goes.
type Job = (
    handler::Invocation,
    tokio::sync::oneshot::Sender<Result<Value, HandlerError>>,
);

async fn invoke(jobs: std::sync::mpsc::Sender<Job>, payload: Value) -> Result<Value, HandlerError> {
    let invocation = handler::classify(payload)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let gone = || HandlerError::Watch("the session's thread has ended".to_owned());
    jobs.send((invocation, tx)).map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

/// The session's own thread: it blocks on trailproof's runtime, which must not be done from
/// a thread of this one's (the head store refuses to block inside async code). Connects
/// first and says whether it could; then runs the invocations one at a time, as Lambda sends
/// them.
fn session_thread(
    config: trailproof_run::WatchSessionConfig,
) -> Result<std::sync::mpsc::Sender<Job>, String> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("trailproof-session".to_owned())
        .spawn(move || {
            let mut session = match WatchSession::connect(&config) {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(trailproof_run::error_message(&e)));
                    return;
                }
            };
            for (invocation, reply) in queue {
                let _ = reply.send(handler::process(&mut session, invocation));
            }
        })
        .map_err(|e| format!("cannot start the session's thread: {e}"))?;
    match ready.recv() {
        Ok(Ok(())) => Ok(jobs),
        Ok(Err(message)) => Err(message),
        Err(_) => Err("the session's thread ended while connecting".to_owned()),
    }
}

/// What the Lambda service sets for a runtime: lambda_runtime panics when one is missing, so
/// they are checked first, for a message instead.
const RUNTIME_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

fn main() -> ExitCode {
    // Bad configuration ends the cold start with the variable named (CloudWatch shows it, and
    // Lambda reports an initialisation error), rather than failing every event.
    let config = match config::from_env(|name| std::env::var(name).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trailproof-lambda: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let missing: Vec<&str> = RUNTIME_VARIABLES
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok();
    if !missing.is_empty() || memory.is_some_and(|m| m.parse::<i32>().is_err()) {
        eprintln!(
            "trailproof-lambda: not run by the Lambda service (or its emulator, cargo lambda watch): {} must be set",
            RUNTIME_VARIABLES.join(", ")
        );
        return ExitCode::from(2);
    }
    let jobs = match session_thread(config) {
        Ok(jobs) => jobs,
        Err(message) => {
            eprintln!("trailproof-lambda: cannot start: {message}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trailproof-lambda: cannot start the Lambda runtime's loop: {e}");
            return ExitCode::from(2);
        }
    };
    let handler = service_fn(move |event: LambdaEvent<Value>| invoke(jobs.clone(), event.payload));
    match rt.block_on(lambda_runtime::run(handler)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trailproof-lambda: the Lambda runtime API failed: {e}");
            ExitCode::from(2)
        }
    }
}
