-- A short, fixed-wording explanation of how a deployment ended when its status alone does not
-- say it (a service that could not be created, tracking stopped because the session ended).
-- Written by the service from its own templates: never an upstream body, credential or value.
ALTER TABLE deployments ADD COLUMN note TEXT;
