//! What every page's layout (`web/templates/base.html`) needs, and small view helpers shared by
//! the templates (timestamps, digests).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use super::assets;
use crate::auth::Role;

/// The sections in the header navigation; `Chrome::nav` names the current one.
pub mod nav {
    pub const OVERVIEW: &str = "overview";
    pub const PERSONAS: &str = "personas";
    pub const FLEET: &str = "fleet";
    pub const AUDIT: &str = "audit";
    pub const EVENTS: &str = "events";
    /// Pages outside the navigation (sign-in, errors).
    pub const NONE: &str = "";
}

/// The signed-in user as the header shows it.
#[derive(Debug, Clone)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    /// For the sign-out form (and any other form on the page).
    pub csrf: String,
}

/// The page frame: who is signed in, which section is current, the asset URLs.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub user: Option<UserView>,
    /// One of [`nav`]'s constants.
    pub nav: &'static str,
    pub css_url: &'static str,
    pub js_url: &'static str,
}

impl Chrome {
    /// The frame for pages without a session (sign-in, errors).
    pub fn signed_out() -> Chrome {
        Chrome {
            user: None,
            nav: nav::NONE,
            css_url: assets::css_url(),
            js_url: assets::js_url(),
        }
    }

    /// The CSRF token to put in a form, empty when signed out.
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.csrf.as_str())
    }

    /// Whether the signed-in user may change things (hides controls from auditors; the
    /// handlers enforce it regardless).
    pub fn can_change(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| matches!(u.role, Role::Admin | Role::Publisher))
    }
}

/// A UTC timestamp as pages show it: `2026-11-25 04:01:49 UTC`, with `iso()` for the
/// `<time datetime>` attribute.
#[derive(Debug, Clone, Copy)]
pub struct Ts(pub DateTime<Utc>);

impl Ts {
    pub fn iso(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

impl std::ops::Deref for Ts {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Ts {
        Ts(t)
    }
}

/// The short form of a `sha256:<hex>` digest for tables (`sha256:1a2b3c4d5e6f`); the full
/// value stays in the copyable `<code>`.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.get(..19).unwrap_or(digest).to_owned(),
    }
}
