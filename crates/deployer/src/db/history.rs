//! Deployment history: what each user deployed, to which Render services, and how it went.
//!
//! Only public facts are kept — no Render key, no GitHub token, no env var value: the record
//! types have no field that could hold one.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Database, DbError, from_micros, to_micros, user_from_db, user_to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Pending,
    InProgress,
    Live,
    Failed,
    /// Tracking stopped before the deploys ended, because the session that held the Render
    /// key ended (sign-out, key cleared or replaced): the services keep their last known
    /// status, and the record's note says why.
    Untracked,
}

impl DeploymentStatus {
    /// No further change will come.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Live | DeploymentStatus::Failed | DeploymentStatus::Untracked
        )
    }

    const ALL: [DeploymentStatus; 5] = [
        DeploymentStatus::Pending,
        DeploymentStatus::InProgress,
        DeploymentStatus::Live,
        DeploymentStatus::Failed,
        DeploymentStatus::Untracked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Pending => "pending",
            DeploymentStatus::InProgress => "in_progress",
            DeploymentStatus::Live => "live",
            DeploymentStatus::Failed => "failed",
            DeploymentStatus::Untracked => "untracked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One deployment request and the services it touched. Timestamps are kept to the microsecond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRecord {
    pub id: Uuid,
    pub user_id: u64,
    /// `owner/repo`.
    pub repo: String,
    pub branch: Option<String>,
    pub project_name: String,
    pub status: DeploymentStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Why the deployment ended as it did, when the status alone does not say it. Fixed
    /// wording from this service, never an upstream body or a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// In plan order.
    pub services: Vec<ServiceRecord>,
}

/// A Render service created or redeployed by a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRecord {
    pub name: String,
    pub service_id: String,
    pub service_type: String,
    pub url: Option<String>,
    pub dashboard_url: String,
    pub deploy_id: Option<String>,
    /// Render's deploy status (`created`, `build_in_progress`, `live`, `build_failed`, …).
    pub deploy_status: String,
    /// True when this deployment created the service, false when it redeployed an existing one.
    pub created: bool,
}

/// A deployment joined with one of its services (none for a deployment without services).
#[derive(Debug, sqlx::FromRow)]
struct JoinedRow {
    id: String,
    user_id: i64,
    repo: String,
    branch: Option<String>,
    project_name: String,
    status: String,
    created_at_us: i64,
    updated_at_us: i64,
    note: Option<String>,
    s_name: Option<String>,
    s_service_id: Option<String>,
    s_service_type: Option<String>,
    s_url: Option<String>,
    s_dashboard_url: Option<String>,
    s_deploy_id: Option<String>,
    s_deploy_status: Option<String>,
    s_created: Option<bool>,
}

/// `SELECT <deployment + service columns> FROM deployments d LEFT JOIN … <rest>`.
macro_rules! select_joined {
    ($rest:literal) => {
        concat!(
            "SELECT d.id, d.user_id, d.repo, d.branch, d.project_name, d.status, ",
            "d.created_at_us, d.updated_at_us, d.note, s.name AS s_name, s.service_id AS s_service_id, ",
            "s.service_type AS s_service_type, s.url AS s_url, ",
            "s.dashboard_url AS s_dashboard_url, s.deploy_id AS s_deploy_id, ",
            "s.deploy_status AS s_deploy_status, s.created AS s_created ",
            "FROM deployments d LEFT JOIN deployment_services s ON s.deployment_id = d.id ",
            $rest
        )
    };
}

impl JoinedRow {
    fn service(&mut self) -> Result<Option<ServiceRecord>, DbError> {
        let Some(service_id) = self.s_service_id.take() else {
            return Ok(None);
        };
        let missing = || DbError::Corrupt("deployment service");
        Ok(Some(ServiceRecord {
            name: self.s_name.take().ok_or_else(missing)?,
            service_id,
            service_type: self.s_service_type.take().ok_or_else(missing)?,
            url: self.s_url.take(),
            dashboard_url: self.s_dashboard_url.take().ok_or_else(missing)?,
            deploy_id: self.s_deploy_id.take(),
            deploy_status: self.s_deploy_status.take().ok_or_else(missing)?,
            created: self.s_created.ok_or_else(missing)?,
        }))
    }

    fn deployment(self) -> Result<DeploymentRecord, DbError> {
        Ok(DeploymentRecord {
            id: Uuid::parse_str(&self.id).map_err(|_| DbError::Corrupt("deployment id"))?,
            user_id: user_from_db(self.user_id)?,
            repo: self.repo,
            branch: self.branch,
            project_name: self.project_name,
            status: DeploymentStatus::parse(&self.status)
                .ok_or(DbError::Corrupt("deployment status"))?,
            created_at: from_micros(self.created_at_us)?,
            updated_at: from_micros(self.updated_at_us)?,
            note: self.note,
            services: Vec::new(),
        })
    }
}

/// Folds joined rows (grouped by deployment, services in order) into records.
fn group(rows: Vec<JoinedRow>) -> Result<Vec<DeploymentRecord>, DbError> {
    let mut out: Vec<DeploymentRecord> = Vec::new();
    for mut row in rows {
        let service = row.service()?;
        let same = out
            .last()
            .is_some_and(|d| d.id.as_hyphenated().to_string() == row.id);
        if !same {
            out.push(row.deployment()?);
        }
        if let (Some(s), Some(d)) = (service, out.last_mut()) {
            d.services.push(s);
        }
    }
    Ok(out)
}

/// Largest page [`History::list_for_user`] returns.
pub const MAX_PAGE: u32 = 100;

/// One service row of a deployment, inside a transaction of either backend
/// (a macro because the transaction's type differs per backend).
macro_rules! insert_service {
    ($tx:ident, $id:expr, $ordinal:expr, $s:expr) => {
        sqlx::query(
            "INSERT INTO deployment_services (deployment_id, ordinal, name, service_id, \
             service_type, url, dashboard_url, deploy_id, deploy_status, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($id)
        .bind($ordinal)
        .bind(&$s.name)
        .bind(&$s.service_id)
        .bind(&$s.service_type)
        .bind(&$s.url)
        .bind(&$s.dashboard_url)
        .bind(&$s.deploy_id)
        .bind(&$s.deploy_status)
        .bind($s.created)
        .execute(&mut *$tx)
        .await?
    };
}

/// The deployment-history store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct History {
    db: Database,
}

impl History {
    pub fn new(db: Database) -> Self {
        History { db }
    }

    /// Stores a new deployment with its services (in one transaction).
    pub async fn insert(&self, rec: &DeploymentRecord) -> Result<(), DbError> {
        let id = rec.id.to_string();
        let user_id = user_to_db(rec.user_id)?;
        let (created, updated) = (to_micros(rec.created_at)?, to_micros(rec.updated_at)?);
        on_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO deployments \
                 (id, user_id, repo, branch, project_name, status, created_at_us, updated_at_us, \
                 note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(&rec.repo)
            .bind(&rec.branch)
            .bind(&rec.project_name)
            .bind(rec.status.as_str())
            .bind(created)
            .bind(updated)
            .bind(&rec.note)
            .execute(&mut *tx)
            .await?;
            for (ordinal, s) in (0_i32..).zip(&rec.services) {
                insert_service!(tx, &id, ordinal, s);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Attaches one more service to a recorded deployment, after those it already has (a
    /// deployment is recorded before its first service is created, and each is attached as
    /// soon as Render has it). [`DbError::NotFound`] if there is no such deployment.
    pub async fn add_service(&self, id: Uuid, s: &ServiceRecord) -> Result<(), DbError> {
        let id = id.to_string();
        let now = to_micros(OffsetDateTime::now_utc())?;
        on_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            let touched = sqlx::query("UPDATE deployments SET updated_at_us = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                return Err(DbError::NotFound);
            }
            let next: (i64,) = sqlx::query_as(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM deployment_services WHERE deployment_id = $1",
            )
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            let ordinal = i32::try_from(next.0).map_err(|_| DbError::OutOfRange("service ordinal"))?;
            insert_service!(tx, &id, ordinal, s);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records Render's latest deploy status for one service (and its URL once known).
    /// [`DbError::NotFound`] if the deployment has no such service.
    pub async fn update_service_status(
        &self,
        id: Uuid,
        service_id: &str,
        deploy_status: &str,
        url: Option<&str>,
    ) -> Result<(), DbError> {
        let id = id.to_string();
        let now = to_micros(OffsetDateTime::now_utc())?;
        on_pool!(self.db, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE deployment_services SET deploy_status = $1, url = COALESCE($2, url) \
                 WHERE deployment_id = $3 AND service_id = $4",
            )
            .bind(deploy_status)
            .bind(url)
            .bind(&id)
            .bind(service_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Err(DbError::NotFound);
            }
            sqlx::query("UPDATE deployments SET updated_at_us = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sets the overall status. [`DbError::NotFound`] if there is no such deployment.
    pub async fn set_status(&self, id: Uuid, status: DeploymentStatus) -> Result<(), DbError> {
        self.set_outcome(id, status, None).await
    }

    /// Sets the overall status and, when `note` is given, the note (a note already there is
    /// kept otherwise). [`DbError::NotFound`] if there is no such deployment.
    pub async fn set_outcome(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        note: Option<&str>,
    ) -> Result<(), DbError> {
        let id = id.to_string();
        let now = to_micros(OffsetDateTime::now_utc())?;
        let updated = on_pool!(self.db, pool => {
            sqlx::query(
                "UPDATE deployments SET status = $1, updated_at_us = $2, note = COALESCE($3, note) \
                 WHERE id = $4",
            )
                .bind(status.as_str())
                .bind(now)
                .bind(note)
                .bind(&id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// The deployment `id` if it belongs to `user_id`; `None` otherwise (whether it does not
    /// exist or is someone else's — callers answer 404 either way).
    pub async fn get_for_user(
        &self,
        id: Uuid,
        user_id: u64,
    ) -> Result<Option<DeploymentRecord>, DbError> {
        let id = id.to_string();
        let user_id = user_to_db(user_id)?;
        let rows: Vec<JoinedRow> = on_pool!(self.db, pool => {
            sqlx::query_as(select_joined!("WHERE d.id = $1 AND d.user_id = $2 ORDER BY s.ordinal"))
                .bind(&id)
                .bind(user_id)
                .fetch_all(pool)
                .await?
        });
        Ok(group(rows)?.into_iter().next())
    }

    /// `user_id`'s deployments, newest first, at most `limit` (clamped to 1..=[`MAX_PAGE`]).
    pub async fn list_for_user(
        &self,
        user_id: u64,
        limit: u32,
    ) -> Result<Vec<DeploymentRecord>, DbError> {
        let user_id = user_to_db(user_id)?;
        let limit = i64::from(limit.clamp(1, MAX_PAGE));
        let rows: Vec<JoinedRow> = on_pool!(self.db, pool => {
            sqlx::query_as(select_joined!(
                "WHERE d.id IN (SELECT id FROM deployments WHERE user_id = $1 \
                 ORDER BY created_at_us DESC, id DESC LIMIT $2) \
                 ORDER BY d.created_at_us DESC, d.id DESC, s.ordinal"
            ))
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        group(rows)
    }
}

/// Every history row as text, for canary tests.
pub(super) async fn rows_text(db: &Database) -> Result<Vec<String>, DbError> {
    let rows: Vec<JoinedRow> =
        on_pool!(db, pool => sqlx::query_as(select_joined!("")).fetch_all(pool).await?);
    Ok(rows.iter().map(|r| format!("{r:?}")).collect())
}
