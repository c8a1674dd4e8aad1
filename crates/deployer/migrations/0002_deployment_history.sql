-- Deployment history. No credential and no env var value is ever stored here.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    repo TEXT NOT NULL,
    branch TEXT,
    project_name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);

CREATE INDEX deployments_user_created ON deployments (user_id, created_at_us);

CREATE TABLE deployment_services (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    name TEXT NOT NULL,
    service_id TEXT NOT NULL,
    service_type TEXT NOT NULL,
    url TEXT,
    dashboard_url TEXT NOT NULL,
    deploy_id TEXT,
    deploy_status TEXT NOT NULL,
    created BOOLEAN NOT NULL,
    PRIMARY KEY (deployment_id, service_id)
);
