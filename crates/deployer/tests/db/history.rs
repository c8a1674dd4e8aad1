use deployer::db::Database;
use deployer::db::DbError;
use deployer::db::history::{DeploymentRecord, DeploymentStatus, History, ServiceRecord};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{T0, for_each_backend};

fn service(name: &str, created: bool) -> ServiceRecord {
    ServiceRecord {
        name: name.to_owned(),
        service_id: format!("srv-{name}"),
        service_type: "web_service".to_owned(),
        url: None,
        dashboard_url: format!("https://dashboard.render.com/web/srv-{name}"),
        deploy_id: Some(format!("dep-{name}")),
        deploy_status: "created".to_owned(),
        created,
    }
}

fn record(user_id: u64, project: &str, created_at: OffsetDateTime) -> DeploymentRecord {
    DeploymentRecord {
        id: Uuid::new_v4(),
        user_id,
        repo: format!("user{user_id}/{project}"),
        branch: Some("main".to_owned()),
        project_name: project.to_owned(),
        status: DeploymentStatus::Pending,
        created_at,
        updated_at: created_at,
        note: None,
        services: vec![
            service(project, true),
            service(&format!("{project}-worker"), false),
        ],
    }
}

/// Inserts a deployment whose project name (and service ids) contain `project`.
pub async fn insert_sample(db: &Database, user_id: u64, project: &str) -> DeploymentRecord {
    let rec = record(user_id, project, T0);
    History::new(db.clone()).insert(&rec).await.unwrap();
    rec
}

#[tokio::test]
async fn users_see_only_their_own_deployments_newest_first() {
    for_each_backend(|t| async move {
        let h = History::new(t.db.clone());
        let older = record(1, "api", T0);
        let newer = DeploymentRecord {
            branch: None,
            services: vec![],
            ..record(1, "site", T0 + Duration::minutes(5))
        };
        let theirs = record(2, "secret-project", T0 + Duration::minutes(1));
        for rec in [&older, &theirs, &newer] {
            h.insert(rec).await.unwrap();
        }

        assert_eq!(
            h.list_for_user(1, 50).await.unwrap(),
            [newer.clone(), older.clone()]
        );
        assert_eq!(
            h.list_for_user(1, 1).await.unwrap(),
            std::slice::from_ref(&newer)
        );
        assert_eq!(
            h.list_for_user(2, 50).await.unwrap(),
            std::slice::from_ref(&theirs)
        );
        assert!(h.list_for_user(3, 50).await.unwrap().is_empty());

        assert_eq!(
            h.get_for_user(older.id, 1).await.unwrap(),
            Some(older.clone())
        );
        assert_eq!(h.get_for_user(theirs.id, 1).await.unwrap(), None);
        assert_eq!(h.get_for_user(Uuid::new_v4(), 1).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn status_updates_are_persisted() {
    for_each_backend(|t| async move {
        let h = History::new(t.db.clone());
        let rec = record(7, "shop", T0);
        h.insert(&rec).await.unwrap();

        h.update_service_status(
            rec.id,
            "srv-shop",
            "live",
            Some("https://shop.onrender.com"),
        )
        .await
        .unwrap();
        h.update_service_status(rec.id, "srv-shop-worker", "build_in_progress", None)
            .await
            .unwrap();
        h.set_status(rec.id, DeploymentStatus::InProgress)
            .await
            .unwrap();

        let got = h.get_for_user(rec.id, 7).await.unwrap().unwrap();
        assert_eq!(got.status, DeploymentStatus::InProgress);
        assert!(got.updated_at > rec.updated_at);
        assert_eq!(got.services[0].deploy_status, "live");
        assert_eq!(
            got.services[0].url.as_deref(),
            Some("https://shop.onrender.com")
        );
        assert_eq!(got.services[1].deploy_status, "build_in_progress");
        assert_eq!(got.services[1].url, None);
        // A later status without a URL keeps the known one.
        h.update_service_status(rec.id, "srv-shop", "live", None)
            .await
            .unwrap();
        let got = h.get_for_user(rec.id, 7).await.unwrap().unwrap();
        assert_eq!(
            got.services[0].url.as_deref(),
            Some("https://shop.onrender.com")
        );

        assert!(matches!(
            h.update_service_status(rec.id, "srv-elsewhere", "live", None)
                .await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            h.set_status(Uuid::new_v4(), DeploymentStatus::Failed).await,
            Err(DbError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn services_are_attached_one_by_one_and_the_note_is_kept() {
    for_each_backend(|t| async move {
        let h = History::new(t.db.clone());
        let mut rec = record(8, "mono", T0);
        let planned = std::mem::take(&mut rec.services);
        h.insert(&rec).await.unwrap();
        assert!(
            h.get_for_user(rec.id, 8)
                .await
                .unwrap()
                .unwrap()
                .services
                .is_empty()
        );
        for service in &planned {
            h.add_service(rec.id, service).await.unwrap();
        }
        let got = h.get_for_user(rec.id, 8).await.unwrap().unwrap();
        assert_eq!(got.services, planned, "attached in order");
        assert!(matches!(
            h.add_service(Uuid::new_v4(), &planned[0]).await,
            Err(DbError::NotFound)
        ));

        h.set_outcome(
            rec.id,
            DeploymentStatus::Untracked,
            Some("Tracking stopped because you signed out."),
        )
        .await
        .unwrap();
        // A later status without a note keeps it.
        h.set_status(rec.id, DeploymentStatus::Untracked)
            .await
            .unwrap();
        let got = h.get_for_user(rec.id, 8).await.unwrap().unwrap();
        assert_eq!(got.status, DeploymentStatus::Untracked);
        assert!(got.status.is_terminal());
        assert_eq!(
            got.note.as_deref(),
            Some("Tracking stopped because you signed out.")
        );
    })
    .await;
}
