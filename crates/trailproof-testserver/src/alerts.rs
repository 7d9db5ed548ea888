//! moto's SNS alert topic for the tests of `watch` and the Lambda handler: a queue subscribed to
//! the topic receives what is published.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Runtime;

use crate::{Moto, ACCESS_KEY, REGION, SECRET_KEY};

/// moto's SNS with a topic and a queue subscribed to it: the server, the topic's ARN, and a
/// reader of the alerts (`(subject, line)` each) that waits for `n` of them.
#[derive(Debug)]
pub struct Alerts {
    pub moto: Moto,
    /// The topic `--alert-sns-topic` (or `TRAILPROOF_ALERT_SNS_TOPIC`) names.
    pub topic_arn: String,
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Alerts {
    /// Starts moto, with the topic and its subscribed queue.
    pub fn start(rt: &Runtime) -> Alerts {
        let moto = Moto::start();
        let region = aws_sdk_sqs::config::Region::new(REGION);
        let credentials =
            aws_sdk_sqs::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests");
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(region.clone())
                .endpoint_url(&moto.url)
                .credentials_provider(credentials.clone())
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
                .region(region)
                .endpoint_url(&moto.url)
                .credentials_provider(credentials)
                .build(),
        );
        let (topic_arn, url) = rt.block_on(async {
            let topic_arn = sns
                .create_topic()
                .name("trailproof-alerts")
                .send()
                .await
                .unwrap()
                .topic_arn
                .unwrap();
            let url = sqs
                .create_queue()
                .queue_name("alerts")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let arn_name = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(arn_name.clone())
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()[&arn_name]
                .clone();
            sns.subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(&arn)
                .send()
                .await
                .unwrap();
            (topic_arn, url)
        });
        Alerts {
            moto,
            topic_arn,
            sqs,
            url,
        }
    }

    /// Every alert published so far, after waiting for at least `n`.
    pub fn read(&self, rt: &Runtime, n: usize) -> Vec<(String, Value)> {
        let mut got = Vec::new();
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let wait = if got.len() >= n { 1 } else { 2 };
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.url)
                    .wait_time_seconds(wait)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .unwrap();
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() && (got.len() >= n || Instant::now() > deadline) {
                    break;
                }
                for m in messages {
                    let envelope: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                    let line: Value =
                        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                    got.push((envelope["Subject"].as_str().unwrap().to_owned(), line));
                    self.sqs
                        .delete_message()
                        .queue_url(&self.url)
                        .receipt_handle(m.receipt_handle.unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        });
        got
    }
}
