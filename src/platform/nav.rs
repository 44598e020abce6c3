//! The back office's navigation, declared by each feature
//! (`pub const ADMIN_NAV: &[NavItem]`) and gathered by the application
//! layer: a label, a link, an icon, who sees it and, for some, a count the
//! feature computes for the signed-in member (the staff shell's sidebar).

use super::{
    context::{Role, StaffUser},
    state::Platform,
};
use futures_util::future::BoxFuture;

/// A figure shown beside a navigation link ("3 open tickets of yours"),
/// computed by the feature for each staff page (never for visitors).
pub type NavCount = for<'a> fn(&'a Platform, &'a StaffUser) -> BoxFuture<'a, anyhow::Result<i64>>;

/// One link of the back office's navigation.
pub struct NavItem {
    /// The group it is listed under ("Support", "Content"…).
    pub group: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    /// Who sees it (admins see everything).
    pub role: Role,
    pub icon: Icon,
    /// The count shown beside it and what it counts, for screen readers
    /// ("open tickets assigned to you").
    pub count: Option<(NavCount, &'static str)>,
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
            icon: Icon::Dot,
            count: None,
        }
    }

    pub const fn icon(mut self, icon: Icon) -> NavItem {
        self.icon = icon;
        self
    }

    /// Shows `count` beside the link; `meaning` says what it counts.
    pub const fn count(mut self, count: NavCount, meaning: &'static str) -> NavItem {
        self.count = Some((count, meaning));
        self
    }
}

/// The sidebar's icons: inline SVG (24×24, stroked), no icon font.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    Dot,
    Home,
    Inbox,
    Person,
    Tray,
    Chat,
    Article,
    Survey,
    Mail,
    Megaphone,
    Chart,
    Box,
    Cart,
    Shield,
    Users,
    Log,
    Gear,
    Check,
    Bell,
}

impl Icon {
    /// The SVG's path data.
    pub fn path(self) -> &'static str {
        match self {
            Icon::Dot => "M12 12m-3 0a3 3 0 1 0 6 0a3 3 0 1 0-6 0",
            Icon::Home => "M3 11l9-7 9 7M5 10v10h5v-6h4v6h5V10",
            Icon::Inbox => "M3 13l3-8h12l3 8v6H3zM3 13h5l1 3h6l1-3h5",
            Icon::Person => "M12 12a4 4 0 1 0 0-8a4 4 0 0 0 0 8zM4 21c1-4 4-6 8-6s7 2 8 6",
            Icon::Tray => "M4 4h16v16H4zM4 14h5l1 2h4l1-2h5",
            Icon::Chat => "M4 5h16v11H9l-5 4z",
            Icon::Article => "M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7",
            Icon::Survey => "M5 4h14v17H5zM9 9h7M9 13h7M9 17h4M7 9h0M7 13h0",
            Icon::Mail => "M3 6h18v12H3zM3 6l9 7 9-7",
            Icon::Megaphone => "M3 10v4h4l7 4V6l-7 4zM17 9a4 4 0 0 1 0 6",
            Icon::Chart => "M4 20V4M4 20h16M8 16v-5M12 16V8M16 16v-8",
            Icon::Box => "M3 7l9-4 9 4v10l-9 4-9-4zM3 7l9 4 9-4M12 11v10",
            Icon::Cart => "M3 4h3l2 11h11l2-8H7M9 20a1 1 0 1 0 0.1 0M18 20a1 1 0 1 0 0.1 0",
            Icon::Shield => "M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
            Icon::Users => {
                "M9 11a3.5 3.5 0 1 0 0-7a3.5 3.5 0 0 0 0 7zM2 20c.8-3.5 3.5-5 7-5s6.2 1.5 7 5M16 4a3.5 3.5 0 0 1 0 7M18 15c2 .6 3.4 2.2 4 5"
            }
            Icon::Log => "M5 4h14v16H5zM8 8h8M8 12h8M8 16h5",
            Icon::Gear => {
                "M12 15a3 3 0 1 0 0-6a3 3 0 0 0 0 6zM12 2v3M12 19v3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M2 12h3M19 12h3M4.9 19.1L7 17M17 7l2.1-2.1"
            }
            Icon::Check => "M4 12l5 5L20 6",
            Icon::Bell => "M6 16v-5a6 6 0 0 1 12 0v5l2 2H4zM10 21a2 2 0 0 0 4 0",
        }
    }
}

/// One result of the back office's global search, as a feature found it.
#[derive(Clone, Debug)]
pub struct SearchHit {
    pub title: String,
    /// A line under the title ("Dana Whitfield · open · Windows").
    pub detail: String,
    pub href: String,
}
