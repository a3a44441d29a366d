//! Logging for the resource-server: `platform::observe`'s setup with our
//! default filter. Rocket's own records are kept to warnings, so a failed
//! start-up ends with the one line that names the setting. Nothing here or
//! elsewhere logs a token.

pub fn init() {
    platform::observe::init_logging("info,rocket=warn,_=warn,hyper=warn,sqlx=warn");
}
