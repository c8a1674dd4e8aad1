//! Facts about the current request that the domain needs for auditing,
//! limits and alerts, without seeing HTTP types.

use std::net::IpAddr;

use crate::db::audit::{AuditDetails, AuditEvent, AuditKind, AuditStatus, ReasonCode};

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: IpAddr,
    /// The matched route template, never the raw path.
    pub route: String,
    /// SHA-256 of the User-Agent (see `session::client_hash`).
    pub client_hash: Option<String>,
}

impl RequestContext {
    pub fn details(&self) -> AuditDetails {
        AuditDetails {
            request_id: Some(self.request_id.clone()),
            route: Some(self.route.clone()),
            client_ip: Some(self.client_ip),
            ..AuditDetails::default()
        }
    }

    /// An audit event carrying this request's id, route and client address.
    pub fn event(&self, user_id: Option<u64>, kind: AuditKind, status: AuditStatus) -> AuditEvent {
        AuditEvent {
            user_id,
            kind,
            status,
            details: self.details(),
        }
    }

    pub fn event_because(
        &self,
        user_id: Option<u64>,
        kind: AuditKind,
        status: AuditStatus,
        reason: ReasonCode,
    ) -> AuditEvent {
        let mut event = self.event(user_id, kind, status);
        event.details.reason = Some(reason);
        event
    }
}
