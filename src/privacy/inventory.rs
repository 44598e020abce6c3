//! The data inventory as the privacy layer uses it: the declaration types
//! (from `platform::inventory`), the cookies we set, and the encryption
//! context of a field. The tables themselves are declared by each feature
//! and gathered by the application layer (`app::registry`).

pub use crate::platform::inventory::{
    Category, Column, Cookie, CookieCategory, Field, Inventory, ROW_ID, Retention, SUBJECT_ID,
    Shown, Table, context,
};

/// Cookies we set, for the policy and the cookie page.
pub const COOKIES: &[Cookie] = &[
    Cookie {
        name: "oc_consent",
        category: CookieCategory::Necessary,
        purpose: "Remembers your cookie choices (signed), with a random number that ties your changes of mind together in our record of consents. It does not identify you.",
        lifetime: "6 months, then we ask again",
    },
    Cookie {
        name: "oc_csrf",
        category: CookieCategory::Necessary,
        purpose: "Protects our forms against cross-site request forgery (named `__Host-oc_csrf` on our https site). A new one is given at staff sign-in.",
        lifetime: "until you close your browser",
    },
    Cookie {
        name: "oc_age",
        category: CookieCategory::Necessary,
        purpose: "Remembers, for this visit only, that a form was answered with an age under 13, so no personal data is taken.",
        lifetime: "until you close your browser",
    },
    Cookie {
        name: "oc_mydata",
        category: CookieCategory::Necessary,
        purpose: "Keeps the my-data page open in the browser that followed the emailed link, and only there.",
        lifetime: "until you close your browser (the access itself ends after an hour)",
    },
    Cookie {
        name: "oc_account",
        category: CookieCategory::Necessary,
        purpose: "Keeps you signed in to your account (named `__Host-oc_account` on our https site): a random token whose hash we store with the time you signed in, when the session was last used and the kind of browser, so you can see and end your sessions. Set only when you sign in.",
        lifetime: "30 days from sign-in, or until you sign out or end the session",
    },
    Cookie {
        name: "oc_account_link",
        category: CookieCategory::Necessary,
        purpose: "Ties an emailed sign-in link to the browser that opened it first, so the link works only there.",
        lifetime: "one hour",
    },
    Cookie {
        name: "oc_session",
        category: CookieCategory::Necessary,
        purpose: "Keeps staff members signed in to the back office.",
        lifetime: "12 hours",
    },
    Cookie {
        name: "oc_cart",
        category: CookieCategory::Necessary,
        purpose: "Holds your shopping cart (which services, how many), signed so it cannot be altered. It holds no identifier and nothing about you.",
        lifetime: "7 days, or until you send the order request",
    },
    Cookie {
        name: "oc_surveys",
        category: CookieCategory::Necessary,
        purpose: "Remembers which surveys this browser has answered (their numbers only, signed), so each is answered once. It holds no identifier: we cannot tell who you are from it.",
        lifetime: "one year",
    },
];
