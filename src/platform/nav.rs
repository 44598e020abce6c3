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

impl NavItem {
    pub const fn new(
        group: &'static str,
        label: &'static str,
        href: &'static str,
        role: Role,
    ) -> NavItem {
        NavItem {
            group,
            label,
            href,
            role,
        }
    }
}
