//! The messages a watcher consumes and the alerts it sends: an SQS queue that S3 event
//! notifications land in (directly or through SNS), and an SNS topic for alerts.
//!
//! A message is deleted only once its result is recorded; until then it comes back after its
//! visibility timeout (at-least-once delivery), or sooner when it is handed back with
//! [`Queue::change_visibility`].

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::{DateTime, Utc};

use crate::context::AwsContext;
use crate::errors::describe;

/// SQS's longest long poll.
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// SQS's largest batch.
pub const MAX_BATCH: u32 = 10;
/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// Why a queue or topic call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The service refused the call or could not be reached.
    #[error("{operation} {resource}: {cause}")]
    Service {
        /// The API call (`ReceiveMessage`, `Publish`…).
        operation: &'static str,
        /// The queue URL or topic ARN.
        resource: String,
        /// What went wrong.
        cause: String,
    },
    /// The answer lacks a field the call needs.
    #[error("{operation} {resource}: the answer has no {field}")]
    Incomplete {
        /// The API call.
        operation: &'static str,
        /// The queue URL or topic ARN.
        resource: String,
        /// The missing field.
        field: &'static str,
    },
}

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// SQS's id of the message (the same on every delivery).
    pub message_id: String,
    /// The handle that deletes or hands back this delivery.
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// When the message was sent (`SentTimestamp`).
    pub sent: Option<DateTime<Utc>>,
    /// How many times it has been received, this time included (`ApproximateReceiveCount`).
    pub receive_count: Option<u32>,
}

/// How to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receive {
    /// Long poll: how long to wait for a first message (at most [`MAX_WAIT`]). The context's
    /// read timeout must be longer ([`AwsOptions`](crate::AwsOptions)' default, 30 s, is).
    pub wait: Duration,
    /// At most this many messages (1 to [`MAX_BATCH`]).
    pub max_messages: u32,
    /// How long the messages stay hidden from other consumers; `None`: the queue's setting.
    pub visibility: Option<Duration>,
}

impl Default for Receive {
    fn default() -> Self {
        Receive {
            wait: MAX_WAIT,
            max_messages: MAX_BATCH,
            visibility: None,
        }
    }
}

impl Receive {
    /// Wait up to [`MAX_WAIT`] for up to [`MAX_BATCH`] messages, the queue's visibility timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the long poll, capped at [`MAX_WAIT`].
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(MAX_WAIT);
        self
    }

    /// Sets the batch size, kept within 1 to [`MAX_BATCH`].
    pub fn max_messages(mut self, n: u32) -> Self {
        self.max_messages = n.clamp(1, MAX_BATCH);
        self
    }

    /// Sets the visibility timeout of the messages received, capped at [`MAX_VISIBILITY`].
    pub fn visibility(mut self, timeout: Option<Duration>) -> Self {
        self.visibility = timeout.map(|t| t.min(MAX_VISIBILITY));
        self
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// The region in an AWS queue URL (`https://sqs.REGION.amazonaws.com/…`, or the legacy
/// `https://REGION.queue.amazonaws.com/…`), if it is one.
fn queue_url_region(url: &str) -> Option<&str> {
    let host = url.split_once("://")?.1.split('/').next()?;
    let labels: Vec<&str> = host.split('.').collect();
    match labels[..] {
        ["sqs", region, ..] => Some(region),
        [region, "queue", ..] => Some(region),
        _ => None,
    }
}

/// An SQS queue.
#[derive(Clone, Debug)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue at `queue_url`, in the region the URL names (else the context's, else
    /// `us-east-1`). An endpoint override (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`, the
    /// profile's) applies as to every client.
    pub fn new(ctx: &AwsContext, queue_url: &str) -> Self {
        let region = queue_url_region(queue_url).unwrap_or(ctx.s3_bootstrap_region());
        Queue {
            client: ctx.sqs_client(region),
            url: queue_url.to_owned(),
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn service<E>(
        &self,
        operation: &'static str,
        e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
    ) -> QueueError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        QueueError::Service {
            operation,
            resource: self.url.clone(),
            cause: describe(e),
        }
    }

    /// Receives up to `how.max_messages` messages, waiting up to `how.wait` for the first (an
    /// empty batch when none came).
    pub async fn receive(&self, how: Receive) -> Result<Vec<QueueMessage>, QueueError> {
        let mut call = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .wait_time_seconds(seconds(how.wait.min(MAX_WAIT)))
            .max_number_of_messages(
                i32::try_from(how.max_messages.clamp(1, MAX_BATCH)).unwrap_or(1),
            )
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        if let Some(v) = how.visibility {
            call = call.visibility_timeout(seconds(v.min(MAX_VISIBILITY)));
        }
        let out = call
            .send()
            .await
            .map_err(|e| self.service("ReceiveMessage", &e))?;
        let incomplete = |field| QueueError::Incomplete {
            operation: "ReceiveMessage",
            resource: self.url.clone(),
            field,
        };
        out.messages()
            .iter()
            .map(|m| {
                let attribute = |name: &MessageSystemAttributeName| {
                    m.attributes().and_then(|a| a.get(name)).map(String::as_str)
                };
                Ok(QueueMessage {
                    message_id: m
                        .message_id()
                        .ok_or_else(|| incomplete("MessageId"))?
                        .to_owned(),
                    receipt_handle: m
                        .receipt_handle()
                        .ok_or_else(|| incomplete("ReceiptHandle"))?
                        .to_owned(),
                    body: m.body().ok_or_else(|| incomplete("Body"))?.to_owned(),
                    sent: attribute(&MessageSystemAttributeName::SentTimestamp)
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .and_then(DateTime::from_timestamp_millis),
                    receive_count: attribute(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| n.parse().ok()),
                })
            })
            .collect()
    }

    /// Deletes a received message: call it once the message's result is recorded.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.service("DeleteMessage", &e))
    }

    /// Sets how much longer a received message stays hidden: zero hands it back at once (its
    /// check could not be done here), more keeps it while a long check runs.
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds(timeout.min(MAX_VISIBILITY)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.service("ChangeMessageVisibility", &e))
    }
}

/// An SNS topic that alerts are published to.
#[derive(Clone, Debug)]
pub struct Topic {
    client: aws_sdk_sns::Client,
    arn: String,
}

impl Topic {
    /// The topic `arn` (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`), in its region (else the
    /// context's, else `us-east-1`). Endpoint overrides apply as to every client.
    pub fn new(ctx: &AwsContext, arn: &str) -> Self {
        let region = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(ctx.s3_bootstrap_region());
        Topic {
            client: ctx.sns_client(region),
            arn: arn.to_owned(),
        }
    }

    /// The topic's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Publishes `message` with an optional `subject` (email subscribers see it; at most 100
    /// characters); SNS's message id.
    pub async fn publish(
        &self,
        subject: Option<&str>,
        message: &str,
    ) -> Result<String, QueueError> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.arn)
            .set_subject(subject.map(str::to_owned))
            .message(message)
            .send()
            .await
            .map_err(|e| QueueError::Service {
                operation: "Publish",
                resource: self.arn.clone(),
                cause: describe(&e),
            })?;
        out.message_id()
            .map(str::to_owned)
            .ok_or(QueueError::Incomplete {
                operation: "Publish",
                resource: self.arn.clone(),
                field: "MessageId",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_in_queue_urls() {
        for (url, region) in [
            (
                "https://sqs.eu-west-1.amazonaws.com/111122223333/q",
                Some("eu-west-1"),
            ),
            (
                "https://us-east-2.queue.amazonaws.com/111122223333/q",
                Some("us-east-2"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q",
                Some("cn-north-1"),
            ),
            ("http://127.0.0.1:4566/111122223333/q", None),
            ("not a url", None),
        ] {
            assert_eq!(queue_url_region(url), region, "{url}");
        }
    }

    #[test]
    fn receive_options_stay_within_sqs_limits() {
        let r = Receive::new()
            .wait(Duration::from_secs(60))
            .max_messages(50)
            .visibility(Some(Duration::from_secs(100_000)));
        assert_eq!((r.wait, r.max_messages), (MAX_WAIT, MAX_BATCH));
        assert_eq!(r.visibility, Some(MAX_VISIBILITY));
        assert_eq!(Receive::new().max_messages(0).max_messages, 1);
    }
}
