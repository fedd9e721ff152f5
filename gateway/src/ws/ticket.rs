//! Single-use connection tickets for browsers, which cannot set an `Authorization` header on a
//! WebSocket: `POST /api/v1/ws/ticket` trades a bearer token for a random ticket that opens one
//! connection within `gateway.ws.ticket_ttl`. The token itself never goes in a URL (URLs reach
//! proxy and access logs); a leaked ticket is worth one connection for a few seconds.
//!
//! Tickets live in this gateway's memory: with several gateways, the client must connect to the
//! instance that issued its ticket (or use the header).

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use dashmap::DashMap;

use emrlab_common::auth::Claims;

/// Outstanding tickets at most; a caller minting tickets it never uses is refused past this.
const MAX_TICKETS: usize = 100_000;

/// The tickets issued and not yet used or expired.
#[derive(Default)]
pub struct Tickets(DashMap<String, (Claims, Instant)>);

impl Tickets {
    /// A new ticket standing for `claims` until `ttl` passes, or `None` when too many are out.
    pub fn issue(&self, claims: Claims, ttl: Duration) -> Option<String> {
        if self.0.len() >= MAX_TICKETS {
            self.sweep();
            if self.0.len() >= MAX_TICKETS {
                return None;
            }
        }
        // 256 random bits: guessing one within its lifetime is hopeless.
        let ticket = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        self.0.insert(ticket.clone(), (claims, Instant::now() + ttl));
        Some(ticket)
    }

    /// The claims of a valid ticket, which is spent by this call whatever the outcome.
    pub fn redeem(&self, ticket: &str) -> Option<Claims> {
        let (_, (claims, expires)) = self.0.remove(ticket)?;
        (Instant::now() < expires).then_some(claims)
    }

    /// Forgets expired tickets.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.0.retain(|_, (_, expires)| *expires > now);
    }
}

#[cfg(test)]
mod tests {
    use emrlab_common::auth::{OrgId, Role, UserId};
    use uuid::Uuid;

    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: UserId(Uuid::nil()),
            org: OrgId(Uuid::nil()),
            role: Role::Nurse,
            iss: "emrlab".into(),
            aud: "emrlab-api".into(),
            iat: 0,
            exp: 0,
            jti: Uuid::nil(),
        }
    }

    #[test]
    fn a_ticket_opens_once_and_an_expired_one_never() {
        let tickets = Tickets::default();
        let ticket = tickets.issue(claims(), Duration::from_secs(30)).unwrap();
        assert_eq!(tickets.redeem(&ticket), Some(claims()));
        assert_eq!(tickets.redeem(&ticket), None);
        let expired = tickets.issue(claims(), Duration::ZERO).unwrap();
        assert_eq!(tickets.redeem(&expired), None);
        assert_eq!(tickets.redeem("made-up"), None);
    }
}
