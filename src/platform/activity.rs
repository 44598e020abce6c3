//! A line of the back office's activity feed, as each feature words it.

/// Something that happened, in words for the person reading the dashboard,
/// with the page it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// When it happened (epoch ms).
    pub at: i64,
    pub words: String,
    pub href: String,
}
