//! Log files in the chain's log folder that no valid digest lists.

use std::ops::ControlFlow;

use chrono::{DateTime, Duration, Utc};

use crate::report::Finding;
use crate::window::UNREFERENCED_MARGIN;
use crate::Error;

use super::collect::References;
use super::Run;

impl Run<'_> {
    /// Reports log files in the chain's log folder, inside the time covered by valid digests,
    /// that no valid digest lists: files added after CloudTrail delivered.
    pub(super) fn find_unreferenced_logs(
        &self,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
        referenced: &References,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        // A log file's name carries its delivery minute; stay clear of window edges, where a
        // file may belong to a digest outside the walk.
        // A sharded walk keeps every candidate: the merge applies the margin at the edges of
        // the time all windows cover together, where the single run applies it.
        let margin = if self.window.is_some() {
            Duration::zero()
        } else {
            UNREFERENCED_MARGIN
        };
        let covered = crate::window::union(windows.to_vec());
        let bucket = &self.chain.bucket;
        let prefix = self.chain.log_prefix();
        for (s, e) in covered {
            let lo = (s + margin).max(self.start);
            let hi = (e - margin).min(self.options.end);
            if lo >= hi {
                continue;
            }
            let mut day = lo.date_naive();
            while day <= hi.date_naive() {
                let folder = format!("{prefix}{}/", day.format("%Y/%m/%d"));
                self.store.list(bucket, &folder, "", &mut |key| {
                    if let Some(t) = self.chain.log_key_time(key) {
                        if t >= lo
                            && t + Duration::minutes(1) <= hi
                            && !referenced.contains(bucket, key)
                        {
                            findings.push(Finding::UnreferencedLog {
                                bucket: bucket.clone(),
                                key: key.to_owned(),
                            });
                        }
                    }
                    ControlFlow::Continue(())
                })?;
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
        Ok(())
    }
}
