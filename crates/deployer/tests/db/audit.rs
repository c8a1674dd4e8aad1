use std::net::IpAddr;

use deployer::alerts::AlertKind;
use deployer::db::audit::{
    self, Anchor, AuditDetails, AuditEvent, AuditKind, AuditLog, AuditStatus, BrokenLink,
    BrokenReason, ReasonCode,
};
use deployer::db::{Database, all_rows_text};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::support::{T0, TestDb, for_each_backend};

fn event(user: Option<u64>, kind: AuditKind, status: AuditStatus) -> AuditEvent {
    AuditEvent {
        user_id: user,
        kind,
        status,
        details: AuditDetails::default(),
    }
}

/// Records `n` events, alternating between users 1 and 2, and waits for them to be committed.
async fn seed(log: &AuditLog, n: u64) {
    for i in 0..n {
        log.record(event(
            Some(1 + i % 2),
            AuditKind::LoginSucceeded,
            AuditStatus::Success,
        ));
    }
    log.flush().await;
}

async fn export_lines(
    db: &Database,
    since: Option<time::OffsetDateTime>,
    user: Option<u64>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let n = audit::export(db, since, user, &mut out).await.unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, n);
    lines
}

async fn broken(t: &TestDb) -> Option<BrokenLink> {
    audit::verify(&t.db, None).await.unwrap().first_broken
}

#[tokio::test]
async fn each_kind_is_written_with_its_fields() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        let deployment = Uuid::new_v4();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for (i, kind) in AuditKind::ALL.into_iter().enumerate() {
            log.record(AuditEvent {
                user_id: Some(1000 + i as u64),
                kind,
                status: AuditStatus::Failure,
                details: AuditDetails {
                    request_id: Some(format!("req-{i}")),
                    route: Some("/api/render/deploy".into()),
                    client_ip: Some(ip),
                    render_owner_id: Some("tea-owner".into()),
                    repo: Some("octo/app".into()),
                    service_ids: vec!["srv-a".into(), "srv-b".into()],
                    deployment_id: Some(deployment),
                    reason: Some(ReasonCode::new("upstream_refused")),
                    alert: (kind == AuditKind::SecurityAlert).then_some(AlertKind::FailedLoginBurst),
                },
            });
        }
        log.record(event(None, AuditKind::LoginFailed, AuditStatus::Denied));
        log.flush().await;

        let lines = export_lines(&t.db, None, None).await;
        assert_eq!(lines.len(), AuditKind::ALL.len() + 1);
        for (i, (kind, line)) in AuditKind::ALL.into_iter().zip(&lines).enumerate() {
            let at = T0 + time::Duration::seconds(i as i64);
            let mut expected = json!({
                "seq": i + 1,
                "timestamp": at.format(&Rfc3339).unwrap(),
                "user_id": format!("github_{}", 1000 + i),
                "event": kind.as_str(),
                "status": "failure",
                "request_id": format!("req-{i}"),
                "route": "/api/render/deploy",
                "client_ip": "203.0.113.9",
                "render_owner_id": "tea-owner",
                "repo": "octo/app",
                "service_ids": ["srv-a", "srv-b"],
                "deployment_id": deployment.to_string(),
                "reason": "upstream_refused",
                "prev_hash": lines.get(i.wrapping_sub(1)).map_or("0".repeat(64).into(), |p| p["hash"].clone()),
                "hash": line["hash"].clone(),
            });
            if kind == AuditKind::SecurityAlert {
                expected["alert"] = json!("failed_login_burst");
            }
            assert_eq!(line, &expected);
        }
        let anonymous = lines.last().unwrap();
        assert_eq!(anonymous["user_id"], Value::Null);
        assert_eq!(anonymous["event"], "login_failed");
        assert_eq!(anonymous["status"], "denied");

        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!(
            (report.checked, report.first_broken),
            (AuditKind::ALL.len() as u64 + 1, None)
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_keep_one_linear_chain() {
    const WRITERS: u64 = 8;
    const EACH: u64 = 1_000;
    for_each_backend(|t| async move {
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            // A pool and a writer task of its own, like a separate instance.
            let db = Database::connect(&t.url).await.unwrap();
            let (log, _) = TestDb {
                url: t.url.clone(),
                db,
            }
            .audit_log();
            tasks.push(tokio::spawn(async move {
                for i in 0..EACH {
                    log.record(event(
                        Some(w + 1),
                        AuditKind::DeploymentRequested,
                        AuditStatus::Success,
                    ));
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                log.flush().await;
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!(
            (report.checked, report.first_broken),
            (WRITERS * EACH, None)
        );
        for w in 1..=WRITERS {
            assert_eq!(export_lines(&t.db, None, Some(w)).await.len() as u64, EACH);
        }
    })
    .await;
}

#[tokio::test]
async fn an_empty_log_verifies() {
    for_each_backend(|t| async move {
        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!((report.checked, report.first_broken), (0, None));
    })
    .await;
}

#[tokio::test]
async fn an_edited_row_is_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        t.tamper(r#"UPDATE audit_events SET details = '{"request_id":"forged"}' WHERE seq = 5"#)
            .await;
        assert_eq!(
            broken(&t).await,
            Some(BrokenLink {
                seq: 5,
                reason: BrokenReason::HashMismatch
            })
        );
    })
    .await;
}

#[tokio::test]
async fn moving_an_event_to_another_user_is_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        t.tamper("UPDATE audit_events SET user_id = 99 WHERE seq = 3")
            .await;
        assert_eq!(
            broken(&t).await,
            Some(BrokenLink {
                seq: 3,
                reason: BrokenReason::HashMismatch
            })
        );
    })
    .await;
}

#[tokio::test]
async fn a_whitespace_edit_is_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 4).await;
        t.tamper("UPDATE audit_events SET details = '{ }' WHERE seq = 2")
            .await;
        assert_eq!(
            broken(&t).await,
            Some(BrokenLink {
                seq: 2,
                reason: BrokenReason::Malformed
            })
        );
    })
    .await;
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        t.tamper("DELETE FROM audit_events WHERE seq = 5").await;
        assert_eq!(
            broken(&t).await,
            Some(BrokenLink {
                seq: 5,
                reason: BrokenReason::Missing
            })
        );
    })
    .await;
}

#[tokio::test]
async fn a_truncated_tail_is_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        t.tamper("DELETE FROM audit_events WHERE seq >= 9").await;
        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!(report.checked, 8);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 9,
                reason: BrokenReason::Missing
            })
        );
    })
    .await;
}

#[tokio::test]
async fn swapped_rows_are_named() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        t.tamper(
            "UPDATE audit_events SET seq = -1 WHERE seq = 4; \
             UPDATE audit_events SET seq = 4 WHERE seq = 5; \
             UPDATE audit_events SET seq = 5 WHERE seq = -1;",
        )
        .await;
        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!(report.checked, 3);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 4,
                reason: BrokenReason::PrevHashMismatch
            })
        );
    })
    .await;
}

#[tokio::test]
async fn appending_after_verify_continues_the_chain() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 3).await;
        drop(log);
        // A restarted process picks the chain up from the stored head.
        let (log, _) = t.audit_log();
        seed(&log, 3).await;
        let report = audit::verify(&t.db, None).await.unwrap();
        assert_eq!((report.checked, report.first_broken), (6, None));
    })
    .await;
}

#[tokio::test]
async fn list_for_user_shows_only_the_callers_events_newest_first_in_pages() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 9).await; // user 1: seqs 1,3,5,7,9; user 2: 2,4,6,8
        log.record(event(None, AuditKind::LoginFailed, AuditStatus::Failure));
        log.flush().await;

        let first = audit::list_for_user(&t.db, 1, None, 2).await.unwrap();
        let seqs =
            |page: &[audit::StoredAuditEvent]| page.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&first), [9, 7]);
        let second = audit::list_for_user(&t.db, 1, Some(7), 2).await.unwrap();
        assert_eq!(seqs(&second), [5, 3]);
        let last = audit::list_for_user(&t.db, 1, Some(3), 2).await.unwrap();
        assert_eq!(seqs(&last), [1]);
        assert!(
            audit::list_for_user(&t.db, 1, Some(1), 2)
                .await
                .unwrap()
                .is_empty()
        );

        let other = audit::list_for_user(&t.db, 2, None, 100).await.unwrap();
        assert_eq!(seqs(&other), [8, 6, 4, 2]);
        assert!(other.iter().all(|e| e.user_id == Some(2)));
        assert!(
            audit::list_for_user(&t.db, 3, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        // A zero limit still returns a page of one rather than nothing or everything.
        assert_eq!(
            audit::list_for_user(&t.db, 2, None, 0).await.unwrap().len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn export_filters_by_time_and_user() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 6).await; // timestamps T0 .. T0+5s
        let since = Some(T0 + time::Duration::seconds(3));
        let seqs = |lines: Vec<Value>| {
            lines
                .iter()
                .map(|l| l["seq"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            seqs(export_lines(&t.db, None, None).await),
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(seqs(export_lines(&t.db, since, None).await), [4, 5, 6]);
        assert_eq!(seqs(export_lines(&t.db, None, Some(2)).await), [2, 4, 6]);
        assert_eq!(seqs(export_lines(&t.db, since, Some(1)).await), [5]);
        assert!(export_lines(&t.db, None, Some(42)).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn all_rows_text_sees_every_table() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        log.record(AuditEvent {
            details: AuditDetails {
                repo: Some("octo/audit-canary".into()),
                ..AuditDetails::default()
            },
            ..event(Some(1), AuditKind::CredentialSetup, AuditStatus::Success)
        });
        log.flush().await;
        crate::history::insert_sample(&t.db, 1, "history-canary").await;
        let text = all_rows_text(&t.db).await.unwrap().join("\n");
        assert!(text.contains("octo/audit-canary"));
        assert!(text.contains("history-canary"));
        assert!(text.contains("srv-history-canary"));
    })
    .await;
}

#[tokio::test]
async fn a_rebuilt_chain_is_caught_by_an_anchor_kept_elsewhere() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 10).await;
        let anchor = audit::verify(&t.db, None).await.unwrap().head;
        assert_eq!(anchor.seq, 10);
        assert_eq!(anchor.to_string().parse::<Anchor>().unwrap(), anchor);

        // Someone with write access drops rows 6-10, moves the head back and
        // appends other events: a chain that holds together on its own.
        t.tamper("DELETE FROM audit_events WHERE seq >= 6").await;
        t.tamper(
            "UPDATE audit_head SET seq = 5, \
             hash = (SELECT hash FROM audit_events WHERE seq = 5) WHERE id = 1",
        )
        .await;
        let (rewriter, _) = t.audit_log();
        for _ in 0..5 {
            rewriter.record(event(Some(77), AuditKind::Logout, AuditStatus::Success));
        }
        rewriter.flush().await;
        let alone = audit::verify(&t.db, None).await.unwrap();
        assert_eq!((alone.checked, alone.first_broken), (10, None));

        let anchored = audit::verify(&t.db, Some(&anchor)).await.unwrap();
        assert_eq!(
            anchored.first_broken,
            Some(BrokenLink {
                seq: 10,
                reason: BrokenReason::AnchorMismatch
            })
        );
        // An anchor beyond the head: the chain was cut below it.
        t.tamper("DELETE FROM audit_events WHERE seq >= 9").await;
        t.tamper(
            "UPDATE audit_head SET seq = 8, \
             hash = (SELECT hash FROM audit_events WHERE seq = 8) WHERE id = 1",
        )
        .await;
        let cut = audit::verify(&t.db, Some(&anchor)).await.unwrap();
        assert_eq!(
            cut.first_broken,
            Some(BrokenLink {
                seq: 10,
                reason: BrokenReason::AnchorMismatch
            })
        );
    })
    .await;
}

#[test]
fn anchors_parse_only_as_seq_and_sha256() {
    let hash = "ab".repeat(32);
    let anchor: Anchor = format!("12:{}", hash.to_uppercase()).parse().unwrap();
    assert_eq!((anchor.seq, anchor.hash.as_str()), (12, hash.as_str()));
    for bad in [
        "12",
        "x:ab",
        "-1:00",
        "3:abc",
        &format!("3:{}", "g".repeat(64)),
    ] {
        assert!(bad.parse::<Anchor>().is_err(), "{bad}");
    }
}

/// `deployer audit …` as an operator runs it, on both backends.
fn deployer_audit(url: &str, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .arg("audit")
        .arg(format!("--database-url={url}"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (output.status.code().unwrap(), stdout)
}

#[tokio::test]
async fn the_audit_commands_exit_as_documented() {
    for_each_backend(|t| async move {
        let (log, _) = t.audit_log();
        seed(&log, 6).await;

        let (code, out) = deployer_audit(&t.url, &["verify"]);
        assert_eq!(code, 0, "{out}");
        let head = out.trim().rsplit("head ").next().unwrap().to_owned();
        assert!(head.parse::<Anchor>().is_ok(), "{out}");
        let (code, _) = deployer_audit(&t.url, &["verify", &format!("--anchor={head}")]);
        assert_eq!(code, 0);

        let (code, out) = deployer_audit(&t.url, &["export", "--user=2"]);
        assert_eq!(code, 0);
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l["user_id"] == "github_2"));

        t.tamper("UPDATE audit_events SET status = 'failure' WHERE seq = 4")
            .await;
        let (code, out) = deployer_audit(&t.url, &["verify"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("BROKEN at seq 4"), "{out}");
    })
    .await;
}

#[test]
fn audit_verify_of_a_missing_sqlite_file_is_an_error_not_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mistyped.db");
    let (code, out) = deployer_audit(&format!("sqlite://{}", path.display()), &["verify"]);
    assert_eq!(code, 2, "{out}");
    assert!(!path.exists());
}
