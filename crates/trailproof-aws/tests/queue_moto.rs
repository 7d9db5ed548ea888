//! `Queue` and `Topic` against a real local SQS and SNS: moto's server mode on 127.0.0.1 (from
//! the Python tools' environment, see `trailproof_testkit::prereq::moto_server`), reached
//! through the standard `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_SNS` variables.
//! One test in this binary: it owns the process environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use trailproof::events::{self, ObjectKind, SourceKind};
use trailproof_aws::{AwsContext, Queue, QueueMessage, Receive, Topic};
use trailproof_testserver::Moto;

const REGION: &str = "us-east-1";
const DIGEST_KEY: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/111122223333_CloudTrail-Digest_us-east-2_t_us-east-1_20240301T013712Z.json.gz";

fn s3_notification(key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2024-03-01T02:01:31.123Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "digests",
               "bucket": {"name": "trail-bucket", "arn": "arn:aws:s3:::trail-bucket"},
               "object": {"key": events::encode_key(key), "size": 1405,
                          "eTag": "b21b84d653bb07b05b1e6b33684dc11b", "sequencer": "0055AED6DCD90281E5"}}
    }]})
    .to_string()
}

/// Receives until `want` messages came (long polls; a batch may hold fewer than were sent).
async fn receive_n(queue: &Queue, how: Receive, want: usize) -> Vec<QueueMessage> {
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(queue.receive(how).await.unwrap());
        if got.len() >= want {
            break;
        }
    }
    assert_eq!(got.len(), want, "{got:?}");
    got
}

async fn queue_counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (String, String) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    (
        attrs[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

#[test]
fn sqs_receive_delete_visibility_and_sns_alerts_against_moto() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    for var in trailproof_testserver::AMBIENT_AWS_VARS {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", home.path().join("config"));
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.path().join("credentials"),
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_ENDPOINT_URL_SQS", &moto.url);
    std::env::set_var("AWS_ENDPOINT_URL_SNS", &moto.url);

    let rt = trailproof_aws::runtime().unwrap();
    rt.block_on(async {
        let ctx = AwsContext::load(None, Some(REGION)).await.unwrap();
        let sqs = ctx.sqs_client(REGION);

        // S3-notification-shaped messages in, each received once with its id, receipt handle,
        // body and sent time, then deleted.
        let url = sqs
            .create_queue()
            .queue_name("trail-digests")
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let queue = Queue::new(&ctx, &url);
        let log_key = "my logs/AWSLogs/111122223333/CloudTrail/us-east-2/2024/03/01/111122223333_CloudTrail_us-east-2_20240301T0135Z_abc.json.gz";
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-03-01T00:00:00.000Z","Bucket":"trail-bucket","RequestId":"5582815E1AEA5ADF","HostId":"x"}"#;
        let bodies = [s3_notification(DIGEST_KEY), s3_notification(log_key), test_event.to_owned()];
        let mut sent_ids = Vec::new();
        for body in &bodies {
            let out = sqs.send_message().queue_url(&url).message_body(body).send().await.unwrap();
            sent_ids.push(out.message_id().unwrap().to_owned());
        }
        let how = Receive::new().wait(Duration::from_secs(20)).max_messages(10);
        let mut got = receive_n(&queue, how, 3).await;
        got.sort_by_key(|m| sent_ids.iter().position(|id| *id == m.message_id));
        for (m, (body, id)) in got.iter().zip(bodies.iter().zip(&sent_ids)) {
            assert_eq!((&m.body, &m.message_id), (body, id));
            assert!(!m.receipt_handle.is_empty());
            assert!(m.sent.is_some(), "{m:?}");
            assert_eq!(m.receive_count, Some(1));
        }
        let parsed: Vec<_> = got.iter().map(|m| events::parse_message(&m.body, &m.message_id).unwrap()).collect();
        assert!(matches!(parsed[0].events[0].object, ObjectKind::Digest(_)));
        assert_eq!(parsed[1].events[0].key, log_key);
        assert!(matches!(parsed[1].events[0].object, ObjectKind::LogFile(_)));
        assert!(parsed[2].test_event && parsed[2].events.is_empty());
        for m in &got {
            queue.delete(&m.receipt_handle).await.unwrap();
        }
        assert_eq!(queue_counts(&sqs, &url).await, ("0".into(), "0".into()));

        // A message not deleted comes back once its visibility timeout has passed, and at
        // once when handed back.
        sqs.send_message().queue_url(&url).message_body(s3_notification(DIGEST_KEY)).send().await.unwrap();
        let first = receive_n(&queue, how.visibility(Some(Duration::from_secs(1))), 1).await;
        let again = receive_n(&queue, how.visibility(Some(Duration::from_secs(600))), 1).await;
        assert_eq!(again[0].message_id, first[0].message_id);
        assert_eq!((first[0].receive_count, again[0].receive_count), (Some(1), Some(2)));
        queue.change_visibility(&again[0].receipt_handle, Duration::ZERO).await.unwrap();
        let third = receive_n(&queue, how.visibility(Some(Duration::from_secs(600))), 1).await;
        assert_eq!((third[0].message_id.as_str(), third[0].receive_count), (first[0].message_id.as_str(), Some(3)));
        queue.delete(&third[0].receipt_handle).await.unwrap();
        assert_eq!(queue_counts(&sqs, &url).await, ("0".into(), "0".into()));

        // An unknown receipt handle or queue is an error naming the call and the queue.
        let missing = Queue::new(&ctx, &url.replace("trail-digests", "no-such-queue"));
        let e = missing.receive(how.wait(Duration::ZERO)).await.unwrap_err().to_string();
        assert!(e.contains("ReceiveMessage") && e.contains("no-such-queue"), "{e}");

        // Alerts: published to a topic an SQS queue subscribes to, read back in SNS's envelope.
        let sns = ctx.sns_client(REGION);
        let topic_arn = sns.create_topic().name("trailproof-alerts").send().await.unwrap().topic_arn().unwrap().to_owned();
        let alerts_url = sqs.create_queue().queue_name("alerts").send().await.unwrap().queue_url().unwrap().to_owned();
        let alerts_arn = sqs
            .get_queue_attributes()
            .queue_url(&alerts_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&alerts_arn).send().await.unwrap();
        let topic = Topic::new(&ctx, &topic_arn);
        assert_eq!(topic.arn(), topic_arn);
        let alert = "s3://trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-2: digest INVALID: signature verification failed";
        let alert_id = topic.publish(Some("trailproof: TAMPERED"), alert).await.unwrap();
        let alerts = Queue::new(&ctx, &alerts_url);
        let got = receive_n(&alerts, how, 1).await;
        let envelope: Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["TopicArn"], topic_arn.as_str());
        assert_eq!(envelope["MessageId"], alert_id.as_str());
        assert_eq!(envelope["Subject"], "trailproof: TAMPERED");
        assert_eq!(envelope["Message"], alert);
        alerts.delete(&got[0].receipt_handle).await.unwrap();

        // An S3 notification through SNS reaches the queue in the envelope the parser reads.
        topic.publish(None, &s3_notification(DIGEST_KEY)).await.unwrap();
        let got = receive_n(&alerts, how, 1).await;
        let m = events::parse_message(&got[0].body, &got[0].message_id).unwrap();
        assert_eq!(m.events[0].source, SourceKind::SnsS3Notification);
        assert_eq!(m.events[0].key, DIGEST_KEY);
        alerts.delete(&got[0].receipt_handle).await.unwrap();
    });
    drop(moto);
}
