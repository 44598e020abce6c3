//! The back office's navigation, declared by each feature
//! (`pub const ADMIN_NAV: &[NavItem]`) and gathered by the application layer.

use super::context::Role;

/// One link of the back office's navigation.
pub struct NavItem {
    /// The group it is listed under ("Support", "Content"…).
    pub group: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    /// Who sees it (admins see everything).
    pub role: Role,
}
