//! What every page shares, below the pages themselves: the frame around
//! their content and the words for a scope.

/// What every page shows around its content.
pub(super) struct Chrome<'a> {
    pub(super) service_name: &'a str,
    /// The issuer's host: where people should be typing their password.
    pub(super) host: &'a str,
    pub(super) stylesheet: &'a str,
}

/// One scope on the consent page, in words.
pub struct ScopeLine {
    pub name: String,
    pub what: &'static str,
}

/// What a scope lets the client do, as the consent page says it.
pub fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "profile:read" => "Read your profile",
        "profile:write" => "Change your name and bio",
        "profiles:read" => "Read every user's profile",
        "openid" => "Know who you are when you sign in",
        "email" => "See your email address",
        "profile" => "See your name",
        "offline_access" => "Stay connected while you are away",
        _ => "Use this permission",
    }
}
