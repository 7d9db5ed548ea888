//! A real Slurm cluster: munged, slurmctld and slurmd on 127.0.0.1 with a private key, socket,
//! configuration, state folder and ports. A job array (`sbatch --array=5-8`, so
//! `SLURM_ARRAY_TASK_MIN` is not 0) runs `validate --shard auto`, a merge job waits for it
//! (`--dependency=afterany`), and the merged report must equal the single run's, on a clean
//! and on a tampered trail. The daemons are stopped by their process ids, also when the test
//! fails (a guard's `Drop`).
//!
//! Debian's `slurmctld slurmd slurm-client munge` must be installed (`tools/test` installs them);
//! without them the test fails, naming the install command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use trailproof_testkit::{fmt_time, TrailBuilder};

const DAEMONS: [&str; 3] = [
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
];
const CLIENTS: [&str; 3] = ["sbatch", "sinfo", "squeue"];

/// The daemons, stopped by pid when dropped (also on panic).
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // slurmd first (it talks to slurmctld), munged last (both authenticate through it).
        // SIGTERM first, so that slurmctld reaps its own helpers; SIGKILL after five seconds.
        for (_, child) in self.children.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        // slurmctld checks that it runs on SlurmctldHost, by its short name.
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (ctld_port, d_port) = (port(), port());
        // As many as slurmd finds: fewer than configured would drain the node.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for sub in ["state", "spool"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let key = dir.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut bytes)
            .unwrap();
        fs::write(&key, &bytes).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
        let d = dir.display();
        let conf = dir.join("slurm.conf");
        fs::write(
            &conf,
            format!(
                "ClusterName=trailproof\n\
                 SlurmctldHost={host}(127.0.0.1)\n\
                 SlurmctldPort={ctld_port}\n\
                 SlurmdPort={d_port}\n\
                 SlurmUser=root\n\
                 SlurmdUser=root\n\
                 AuthType=auth/munge\n\
                 AuthInfo=socket={d}/munge.sock\n\
                 CredType=cred/munge\n\
                 StateSaveLocation={d}/state\n\
                 SlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\n\
                 SlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/slurmctld.log\n\
                 SlurmdLogFile={d}/slurmd.log\n\
                 ProctrackType=proctrack/pgid\n\
                 TaskPlugin=task/none\n\
                 JobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\n\
                 JobCompType=jobcomp/none\n\
                 SchedulerType=sched/builtin\n\
                 SelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_Core\n\
                 MpiDefault=none\n\
                 ReturnToService=2\n\
                 InactiveLimit=0\n\
                 MinJobAge=300\n\
                 KillWait=5\n\
                 Waittime=0\n\
                 NodeName=tpnode NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
                 PartitionName=trailproof Nodes=tpnode Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES\n"
            ),
        )
        .unwrap();
        let mut cluster = Cluster {
            dir: dir.to_owned(),
            conf,
            children: Vec::new(),
        };
        let spawn = |cluster: &mut Cluster, name: &'static str, cmd: &mut Command| {
            let log = fs::File::create(cluster.dir.join(format!("{name}.out"))).unwrap();
            let child = cmd
                .env("SLURM_CONF", &cluster.conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
            cluster.children.push((name, child));
        };
        spawn(
            &mut cluster,
            "munged",
            Command::new(DAEMONS[0]).args([
                "--foreground".to_owned(),
                "--force".to_owned(),
                format!("--socket={d}/munge.sock"),
                format!("--key-file={}", key.display()),
                format!("--pid-file={d}/munged.pid"),
                format!("--log-file={d}/munged.log"),
                format!("--seed-file={d}/munged.seed"),
            ]),
        );
        cluster.wait_for("munge socket", || dir.join("munge.sock").exists());
        spawn(
            &mut cluster,
            "slurmctld",
            Command::new(DAEMONS[1]).args(["-D", "-i"]),
        );
        spawn(
            &mut cluster,
            "slurmd",
            Command::new(DAEMONS[2]).args(["-D", "-N", "tpnode"]),
        );
        cluster.wait_for("an idle node", || {
            let out = cluster.client("sinfo", &["-h", "-o", "%T"]);
            String::from_utf8_lossy(&out.stdout).trim() == "idle"
        });
        cluster
    }

    fn client(&self, name: &str, args: &[&str]) -> Output {
        Command::new(name)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap()
    }

    /// Polls `ready` for up to two minutes; on timeout, fails with the daemons' logs.
    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            if start.elapsed() > Duration::from_secs(120) {
                let mut logs = String::new();
                for name in [
                    "munged.out",
                    "slurmctld.out",
                    "slurmd.out",
                    "slurmctld.log",
                    "slurmd.log",
                ] {
                    let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    logs.push_str(&format!(
                        "--- {name}\n{}\n",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ));
                }
                panic!("timed out waiting for {what}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Submits a batch script, returns the job id.
    fn sbatch(&self, args: &[&str]) -> String {
        let out = self.client("sbatch", &[&["--parsable"], args].concat());
        assert!(
            out.status.success(),
            "sbatch {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }
}

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Quotes for sh.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_slurm_array_and_a_dependent_merge_print_what_the_single_run_prints() {
    trailproof_testkit::prereq::require_programs(
        &[DAEMONS.as_slice(), CLIENTS.as_slice()].concat(),
        "slurmctld slurmd slurm-client munge",
    );
    let dir = tempfile::tempdir().unwrap();
    // munged wants every folder above its socket searchable by all.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = Cluster::start(&dir.path().join("cluster"));

    let trail = TrailBuilder::new()
        .regions(&["us-east-1", "eu-west-1"])
        .hours(8)
        .logs_per_hour(2)
        .build();
    let mut tampered = trail.archive.clone();
    tampered.modify_log(
        "trail-bucket",
        &trail.digests_in("eu-west-1")[5].log_keys[0],
    );
    tampered.delete(
        "trail-bucket",
        &trail.digests_in("us-east-1")[3].key.clone(),
    );
    let tp = env!("CARGO_BIN_EXE_trailproof");
    for (name, archive, want_status) in [("clean", &trail.archive, 0), ("tampered", &tampered, 1)] {
        let work = dir.path().join(name);
        let root = work.join("bucket");
        archive.write_bucket("trail-bucket", &root).unwrap();
        let keys = work.join("keys.json");
        fs::write(&keys, archive.public_keys_json()).unwrap();
        let parts = work.join("parts");
        fs::create_dir_all(&parts).unwrap();
        let args: Vec<String> = [
            "validate",
            "--archive",
            &root.display().to_string(),
            "--public-keys",
            &keys.display().to_string(),
            "--trail-arn",
            &trail.trail_arn(),
            "--start-time",
            &fmt_time(trail.start()),
            "--end-time",
            &fmt_time(trail.start() + chrono::Duration::hours(8)),
            "--all-regions",
            "--no-progress",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let quoted: Vec<String> = args.iter().map(|a| q(a)).collect();
        let shard = work.join("shard.sh");
        script(
            &shard,
            &format!(
                "exec {} {} --shard auto --shard-window 2h --partial {}",
                q(tp),
                quoted.join(" "),
                q(&parts.join("part-{index}.json").display().to_string())
            ),
        );
        let merge = work.join("merge.sh");
        script(
            &merge,
            &format!(
                "cd {p} && {tp} merge --run-id \"$TRAILPROOF_RUN_ID\" part-*.json > ../merged.stdout 2> ../merged.stderr\necho $? > ../merged.status.tmp && mv ../merged.status.tmp ../merged.status",
                p = q(&parts.display().to_string()),
                tp = q(tp),
            ),
        );
        let out = |f: &str| work.join(f).display().to_string();
        let array = cluster.sbatch(&[
            "--array=5-8",
            "-o",
            &out("shard-%a.out"),
            "-D",
            &work.display().to_string(),
            &shard.display().to_string(),
        ]);
        cluster.sbatch(&[
            &format!("--dependency=afterany:{array}"),
            &format!("--export=ALL,TRAILPROOF_RUN_ID={array}"),
            "-o",
            &out("merge.out"),
            "-D",
            &work.display().to_string(),
            &merge.display().to_string(),
        ]);
        let status = work.join("merged.status");
        cluster.wait_for(&format!("the {name} merge job"), || status.exists());

        let single = Command::new(tp).args(&args).output().unwrap();
        let merged_status: i32 = fs::read_to_string(&status).unwrap().trim().parse().unwrap();
        let merged_stdout = fs::read(work.join("merged.stdout")).unwrap();
        let merged_stderr = fs::read(work.join("merged.stderr")).unwrap();
        let shards: Vec<String> = (5..=8)
            .map(|i| fs::read_to_string(work.join(format!("shard-{i}.out"))).unwrap_or_default())
            .collect();
        let context = format!(
            "{name}: single (status {:?}):\n{}{}\n--- merged (status {merged_status}):\n{}{}\n--- shards:\n{}",
            single.status.code(),
            String::from_utf8_lossy(&single.stdout),
            String::from_utf8_lossy(&single.stderr),
            String::from_utf8_lossy(&merged_stdout),
            String::from_utf8_lossy(&merged_stderr),
            shards.join("\n"),
        );
        // Shards 1..4 of the array 5-8: SLURM_ARRAY_TASK_MIN was taken off; each part is
        // bound to the array's job id.
        for (i, text) in shards.iter().enumerate() {
            assert!(
                text.contains(&format!("shard {}/4 of run {array}:", i + 1)),
                "{context}"
            );
        }
        assert_eq!(single.status.code(), Some(want_status), "{context}");
        assert_eq!(merged_status, want_status, "{context}");
        assert_eq!(merged_stdout, single.stdout, "{context}");
        assert_eq!(merged_stderr, single.stderr, "{context}");

        if name == "clean" {
            // The stale-parts attack: the trail is tampered with, and the next run of the same
            // job into the same parts folder fails in every shard. The `afterany` merge finds
            // only the previous run's parts, all valid: it must refuse them, never say valid.
            tampered.write_bucket("trail-bucket", &root).unwrap();
            let failing = work.join("failing-shard.sh");
            script(&failing, "exit 3");
            let stale = cluster.sbatch(&[
                "--array=1-4",
                "-o",
                &out("failing-%a.out"),
                "-D",
                &work.display().to_string(),
                &failing.display().to_string(),
            ]);
            fs::remove_file(&status).unwrap();
            cluster.sbatch(&[
                &format!("--dependency=afterany:{stale}"),
                &format!("--export=ALL,TRAILPROOF_RUN_ID={stale}"),
                "-o",
                &out("merge-again.out"),
                "-D",
                &work.display().to_string(),
                &merge.display().to_string(),
            ]);
            cluster.wait_for("the merge after failed shards", || status.exists());
            let code: i32 = fs::read_to_string(&status).unwrap().trim().parse().unwrap();
            let stderr = fs::read_to_string(work.join("merged.stderr")).unwrap();
            assert_eq!(code, 2, "{stderr}");
            assert!(
                stderr.contains(&format!("belongs to run {array}, not to run {stale}")),
                "{stderr}"
            );
        }
    }

    // The scripts in deploy/slurm, as a user runs them (array 0-3, parts in a shared folder,
    // archive mode through SHARD_FLAGS), on the tampered trail: the report file holds stdout
    // and stderr together, as the single run's does when both go to one file.
    let work = dir.path().join("deploy");
    let root = work.join("bucket");
    tampered.write_bucket("trail-bucket", &root).unwrap();
    let keys = work.join("keys.json");
    fs::write(&keys, tampered.public_keys_json()).unwrap();
    let (start, end) = (
        fmt_time(trail.start()),
        fmt_time(trail.start() + chrono::Duration::hours(8)),
    );
    let bin_dir = Path::new(tp).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/slurm/submit.sh");
    let out = Command::new(&submit)
        .args(["4", "--cpus-per-task=1", "--mem=0"])
        .arg(format!("--chdir={}", work.display()))
        .env("SLURM_CONF", &cluster.conf)
        .env("PATH", &path)
        .env("TRAIL_ARN", trail.trail_arn())
        .env("START_TIME", &start)
        .env("END_TIME", &end)
        .env("PARTS", work.join("parts"))
        .env("SHARD_WINDOW", "3h")
        .env(
            "SHARD_FLAGS",
            format!(
                "--archive {} --public-keys {}",
                root.display(),
                keys.display()
            ),
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merge_id = said.trim().rsplit(' ').next().unwrap().to_owned();
    let state = || {
        let out = cluster.client("scontrol", &["show", "job", &merge_id]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cluster.wait_for("the deploy/slurm merge job", || {
        let s = state();
        s.contains("JobState=COMPLETED") || s.contains("JobState=FAILED")
    });
    let info = state();
    let code = info
        .split("ExitCode=")
        .nth(1)
        .and_then(|t| t.split(':').next())
        .unwrap()
        .to_owned();
    let report = fs::read(work.join(format!("trailproof-report-{merge_id}.txt"))).unwrap();
    let both = fs::File::create(work.join("single.txt")).unwrap();
    let single = Command::new(tp)
        .args([
            "validate",
            "--trail-arn",
            &trail.trail_arn(),
            "--all-accounts",
            "--all-regions",
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--no-progress",
            "--archive",
            &root.display().to_string(),
            "--public-keys",
            &keys.display().to_string(),
        ])
        .stdout(both.try_clone().unwrap())
        .stderr(both)
        .status()
        .unwrap();
    let want = fs::read(work.join("single.txt")).unwrap();
    assert_eq!(single.code(), Some(1));
    assert_eq!(code, "1", "{info}");
    assert_eq!(
        String::from_utf8_lossy(&report),
        String::from_utf8_lossy(&want)
    );
    drop(cluster);
}
